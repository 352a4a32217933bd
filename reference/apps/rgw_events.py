"""What seed 003's functions share: Ceph RGW's object events as the seed's Go package (ceph/rgw-pubsub-api's
RGWEvent) models them, made from the S3 records RGW's bucket notifications carry; the S3 settings the
seed's containers read from their environment; and Go's log line, which the seed's logs show.

An RGWEvent, the data of each CloudEvent (type dev.knative.source.rgwpubsub, source rgwpubsub):

    {"id": "...", "event": "OBJECT_CREATE", "timestamp": "...",
     "info": {"bucket": {"name": "buck", "bucket_id": "...", "tenant": ""},
              "key": {"name": "cat-7.jpg", "instance": ""}, "attrs": {"mtime": "..."}}}
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import NoReturn

from aiohttp import web

from reference.cloudevents.codec import Event, MalformedEvent, from_http

EVENT_TYPE = "dev.knative.source.rgwpubsub"
SOURCE = "rgwpubsub"
ACCESS_ID, ACCESS_KEY, ENDPOINT = "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_HOSTNAME"
# RGW's S3 event names -> the pub/sub module's
EVENT_NAMES = (("ObjectRemoved:DeleteMarkerCreated", "DELETE_MARKER_CREATE"), ("ObjectCreated", "OBJECT_CREATE"),
               ("ObjectRemoved", "OBJECT_DELETE"))


def golog(message: str) -> None:
    """A line as Go's log package writes it: `2018/12/03 15:24:10 message`."""
    print(f"{time.strftime('%Y/%m/%d %H:%M:%S')} {message}", flush=True)


def fatal(message: str) -> NoReturn:
    """Go's log.Fatalf: the line, then exit status 1."""
    golog(message)
    sys.exit(1)


def s3_settings() -> tuple[str, str, str]:
    """(access key id, secret, endpoint) from S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and S3_HOSTNAME, as the
    seed's functions read them; exits as they do when one is missing."""
    values = tuple(os.environ.get(name, "") for name in (ACCESS_ID, ACCESS_KEY, ENDPOINT))
    if not all(values):
        fatal(f"env {ACCESS_ID}, {ACCESS_KEY}, or {ENDPOINT} not set")
    return values[0], values[1], values[2]


def go_quote(text: str) -> str:
    """Go's %q of a string (JSON's quoting is the same for what object keys hold)."""
    return json.dumps(text, ensure_ascii=False)


def from_record(record: dict) -> dict:
    """The RGWEvent of one S3 record of a bucket notification."""
    s3 = record.get("s3") or {}
    bucket, obj = s3.get("bucket") or {}, s3.get("object") or {}
    name = str(record.get("eventName", ""))
    kind = next((ours for theirs, ours in EVENT_NAMES if name.startswith(theirs)), name)
    # RGW's eventId is the time and the object's etag: the sequencer tells two uploads of one content apart
    event_id = "-".join(part for part in (str(record.get("eventId", "")), str(obj.get("sequencer", ""))) if part)
    return {"id": event_id, "event": kind, "timestamp": record.get("eventTime", ""),
            "info": {"bucket": {"name": bucket.get("name", ""), "bucket_id": bucket.get("id", ""), "tenant": ""},
                     "key": {"name": obj.get("key", ""), "instance": obj.get("versionId", "")},
                     "attrs": {"mtime": record.get("eventTime", "")}}}


def object_of(event: Event) -> tuple[str, str]:
    """(bucket, key) of a CloudEvent carrying an RGWEvent; ValueError when it carries none."""
    data = event.json()
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise ValueError("the event's data is not an RGW event (no info)")
    bucket, key = (info.get("bucket") or {}).get("name"), (info.get("key") or {}).get("name")
    if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
        raise ValueError("the event's data names no bucket and key (info.bucket.name, info.key.name)")
    return bucket, key


async def read_object_event(request: web.Request) -> tuple[Event, str, str]:
    """The CloudEvent of a request and the (bucket, key) it names; a 400 naming the problem when the request
    carries no RGW object event."""
    try:
        event = from_http(request.headers, await request.read())
        bucket, key = object_of(event)
    except (MalformedEvent, ValueError) as err:
        golog(f"not an RGW event: {err}")
        raise web.HTTPBadRequest(text=f"{err}\n") from None
    return event, bucket, key


def received(event: Event, bucket: str, key: str) -> str:
    """The line the seed's functions log for an event:
    `[2018-12-03T15:24:10Z] application/json rgwpubsub. Object: "cat-7.jpg"  Bucket: "buck"`."""
    return (f"[{_rfc3339(event.attributes.get('time', ''))}] {event.attributes.get('datacontenttype', '')} "
            f"{event.attributes.get('source', '')}. Object: {go_quote(key)}  Bucket: {go_quote(bucket)}")


def _rfc3339(text: str) -> str:
    """An event time as Go's time.RFC3339 prints it (whole seconds); Go's zero time when absent."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        when = None
    if when is None:
        return "0001-01-01T00:00:00Z"
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
