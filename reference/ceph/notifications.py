"""RGW's bucket notifications, the way seed 003's events reach Knative here: a topic whose push endpoint
is the source, and a bucket's notification configuration naming the topic (RGW's S3- and SNS-compatible
API, through boto3).

The seed used RGW's pub/sub sync module, whose subscriptions a source pulls. Ceph 16 (Debian 12's
Ceph) still has that module, but its sync never finds a bucket's topics for a new object (it reads them
under the bucket's name without its marker, where the REST API writes them with it), so no event is
ever stored; Ceph 18 removed the module. Bucket notifications push each event to an HTTP endpoint
instead; RGW copies the topic's endpoint into each notification when the notification is made, so a
source that moves (a new pod, a new address) points the topic at itself and makes the notifications
that name it again (`point_at`).

Topics are not persistent: RGW pushes each event while it stores the object, and the upload's answer
waits for the source's. Ceph 16's persistent topics (a queue in RADOS, pushed later) delivered the events
of 100 uploads here about 30 s late, 197 times.
"""

from __future__ import annotations

from typing import Any

REGION = "default"  # the zonegroup's name; seed 003's clients sign for "default" too
CREATED = ("s3:ObjectCreated:*",)


def clients(endpoint: str, access_key: str, secret_key: str, region: str = REGION) -> tuple[Any, Any]:
    """(s3, sns) clients of the gateway at `endpoint`, path-style, reaching it directly: a pod's
    HTTP_PROXY (the platform's ingress) is for cluster-local names, not for the object store."""
    import boto3
    from botocore.config import Config

    settings = Config(proxies={}, s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"},
                      connect_timeout=5, read_timeout=30)
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                    region_name=region)
    return (session.client("s3", endpoint_url=endpoint, config=settings),
            session.client("sns", endpoint_url=endpoint, config=settings))


def endpoint_url(host: str) -> str:
    """S3_HOSTNAME as seed 003's Go clients read it: with a scheme as it is, without one https (aws-sdk-go's
    default)."""
    return host if "://" in host else f"https://{host}"


def create_topic(sns: Any, name: str, push_endpoint: str = "", persistent: bool = False) -> str:
    """Creates topic `name` (or updates it: RGW's CreateTopic of an existing name replaces its endpoint);
    returns its ARN."""
    attributes = {"persistent": "true" if persistent else "false"}
    if push_endpoint:
        attributes["push-endpoint"] = push_endpoint
    return str(sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])


def notify(s3: Any, bucket: str, topic_arn: str, notification_id: str, events: tuple[str, ...] = CREATED) -> None:
    """The bucket's notification `notification_id` sends `events` to the topic (its other notifications
    stay)."""
    current = s3.get_bucket_notification_configuration(Bucket=bucket).get("TopicConfigurations") or []
    kept = [_config(c) for c in current if c.get("Id") != notification_id]
    wanted = {"Id": notification_id, "TopicArn": topic_arn, "Events": list(events)}
    s3.put_bucket_notification_configuration(Bucket=bucket,
                                             NotificationConfiguration={"TopicConfigurations": [*kept, wanted]})


def point_at(s3: Any, sns: Any, topic: str, push_endpoint: str, persistent: bool = False) -> list[str]:
    """Points topic `topic` at `push_endpoint` and makes again every notification of the user's buckets that
    names it, so they push there too; returns those buckets."""
    arn = create_topic(sns, topic, push_endpoint, persistent)
    buckets = []
    for bucket in s3.list_buckets().get("Buckets") or []:
        name = bucket["Name"]
        configs = s3.get_bucket_notification_configuration(Bucket=name).get("TopicConfigurations") or []
        if any(c.get("TopicArn") == arn for c in configs):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"TopicConfigurations": [_config(c) for c in configs]})
            buckets.append(name)
    return buckets


def prepare(s3: Any, sns: Any, bucket: str, topic: str) -> str:
    """Seed 003's set-up on the gateway, what its pub/sub subscription was: the bucket, a topic (its
    endpoint is set by the source that pushes its events on) and the bucket's notification of created
    objects to it. Returns the topic's ARN."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets") or []}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    # a topic a source already points at itself keeps its endpoint
    arns = [str(t["TopicArn"]) for t in sns.list_topics().get("Topics") or []]
    arn = next((a for a in arns if a.rsplit(":", 1)[-1] == topic), None) or create_topic(sns, topic)
    notify(s3, bucket, arn, topic)
    return arn


def _config(found: dict) -> dict:
    """A TopicConfiguration as read, in the form PutBucketNotificationConfiguration takes."""
    return {key: found[key] for key in ("Id", "TopicArn", "Events", "Filter") if key in found}
