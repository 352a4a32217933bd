import pytest

from reference.apiserver.admission import eventing
from reference.apiserver.admission.eventing import (
    default_broker,
    default_trigger,
    validate_broker,
    validate_channel,
    validate_subscription,
    validate_trigger,
)
from tests.unit.admission_helpers import context

SINK = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "recorder"}}


def trigger(**spec: object) -> dict:
    return {"metadata": {"name": "t", "namespace": "ns"}, "spec": {"broker": "default", "subscriber": SINK, **spec}}


def check(obj: dict, old: dict | None = None) -> str | None:
    ctx = context("UPDATE" if old else "CREATE")
    default_trigger(obj, old, ctx)
    problem = validate_trigger(obj, old, ctx)
    return str(problem) if problem else None


def test_trigger_defaults() -> None:
    obj = trigger()
    assert check(obj) is None
    assert obj["metadata"]["labels"] == {"eventing.knative.dev/broker": "default"}
    assert obj["spec"]["subscriber"]["ref"]["namespace"] == "ns"
    assert obj["spec"]["filter"] == {}


@pytest.mark.parametrize(("spec", "message"), [
    ({"broker": ""}, "missing field(s): spec.broker"),
    ({"subscriber": {}}, "expected at least one, got none: spec.subscriber.ref, spec.subscriber.uri"),
    ({"subscriber": {"uri": "/relative"}},
     "invalid value: Relative URI is not allowed when Ref and [apiVersion, kind, name] is absent: "
     "spec.subscriber.uri"),
    ({"subscriber": {"ref": {"kind": "Service"}}},
     "missing field(s): spec.subscriber.ref.apiVersion, spec.subscriber.ref.name"),
    ({"filter": {"attributes": {"Type": "x"}}},
     'invalid key name "Type": spec.filter.attributes[Type]\n'
     "Attribute name must start with a letter and can only contain lowercase alphanumeric"),
    ({"filters": [{"exact": {"type": "a"}, "suffix": {"type": "b"}}]},
     "multiple dialects found, filters can have only one dialect set: "),
    ({"filters": [{"all": [{"not": {"prefix": {"Bad": "x"}}}]}]},
     'invalid key name "Bad": spec.filters[0].all[0].not.prefix[Bad]\n'
     "Attribute name must start with a letter and can only contain lowercase alphanumeric"),
    ({"delivery": {"backoffDelay": "1s"}}, "invalid value: 1s: spec.delivery.backoffDelay"),
    ({"delivery": {"backoffPolicy": "random"}}, "invalid value: random: spec.delivery.backoffPolicy"),
    ({"delivery": {"retryAfterMax": "PT1S"}}, "must not set the field(s): spec.delivery.retryAfterMax"),
    ({"delivery": {"timeout": "PT0S"}}, "invalid value: PT0S: spec.delivery.timeout"),
])
def test_invalid_trigger(spec: dict, message: str) -> None:
    assert check(trigger(**spec)) == message


def test_valid_filters() -> None:
    assert check(trigger(filters=[
        {"exact": {"type": "dev.knative.kafka.event"}},
        {"any": [{"prefix": {"source": "/apis"}}, {"suffix": {"subject": "#1"}}]},
        {"not": {"cesql": "type = 'x'"}},
    ], delivery={"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S", "timeout": "PT5S",
                 "deadLetterSink": {"uri": "http://dls.example.com"}})) is None


def test_a_cesql_parse_error_refuses_the_trigger() -> None:
    message = check(trigger(filters=[{"cesql": "LENGTH(type"}]))
    assert message is not None and message.startswith("invalid value: LENGTH(type: spec.filters[0].cesql\n")


def test_a_cel_parse_error_refuses_the_trigger() -> None:
    message = check(trigger(filters=[{"all": [{"cel": "type == "}]}]))
    assert message is not None and message.startswith("invalid value: type == : spec.filters[0].all[0].cel\n")
    assert check(trigger(filters=[{"cel": "type == 'a' && data.score > 0.5"}])) is None


def test_one_dialect_per_filter() -> None:
    message = check(trigger(filters=[{"exact": {"type": "a"}, "cel": "true"}]))
    assert message is not None and message.startswith("multiple dialects found")


def test_broker_is_immutable_after_create() -> None:
    old = trigger()
    check(old)
    new = trigger(broker="other")
    assert check(new, old).startswith("Immutable fields changed (-old +new): broker, spec")


def test_broker_defaults_and_class_immutability() -> None:
    broker = {"metadata": {"name": "default", "namespace": "ns"}}
    default_broker(broker, None, context())
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "MTChannelBasedBroker"
    assert broker["spec"]["config"]["name"] == "config-br-default-channel"
    assert broker["spec"]["delivery"]["retry"] == 10
    assert validate_broker(broker, None, context()) is None
    changed = {**broker, "metadata": {**broker["metadata"], "annotations": {
        "eventing.knative.dev/broker.class": "Kafka"}}}
    assert str(validate_broker(changed, broker, context("UPDATE"))).startswith(
        "Immutable annotations changed (-old +new): annotations")


def test_channel_and_subscription_rules() -> None:
    channel = {"metadata": {"name": "c", "namespace": "ns"}, "spec": {"subscribers": [{"subscriberUri": "x"}]}}
    eventing.default_channel(channel, None, context())
    assert channel["spec"]["channelTemplate"]["kind"] == "InMemoryChannel"
    assert str(validate_channel(channel, None, context())) == (
        "must not set the field(s): spec.subscribable.subscribers")
    subscription = {"metadata": {"name": "s", "namespace": "ns"}, "spec": {}}
    assert str(validate_subscription(subscription, None, context())) == (
        "missing field(s): spec.channel\nthe Subscription must reference a channel")


def kafka_sink(**spec: object) -> dict:
    return {"metadata": {"name": "ks", "namespace": "ns"},
            "spec": {"topic": "t", "bootstrapServers": ["127.0.0.1:9092"], **spec}}


def check_sink(obj: dict, old: dict | None = None) -> str | None:
    ctx = context("UPDATE" if old else "CREATE")
    eventing.default_kafka_sink(obj, old, ctx)
    problem = eventing.validate_kafka_sink(obj, old, ctx)
    return str(problem) if problem else None


def test_kafka_sink_defaults_to_binary_mode() -> None:
    obj = kafka_sink()
    assert check_sink(obj) is None and obj["spec"]["contentMode"] == "binary"


@pytest.mark.parametrize(("spec", "message"), [
    ({"topic": ""}, "invalid value: : spec.topic"),
    ({"bootstrapServers": []}, "invalid value: []: spec.bootstrapServers"),
    ({"contentMode": "json"}, "invalid value: json: spec.contentMode"),
    ({"numPartitions": 0}, "invalid value: 0: spec.numPartitions"),
    ({"replicationFactor": -1}, "invalid value: -1: spec.replicationFactor"),
    ({"auth": {"secret": {}}}, "missing field(s): spec.auth.secret.ref.name"),
])
def test_kafka_sink_validation(spec: dict, message: str) -> None:
    assert check_sink(kafka_sink(**spec)) == message


def test_kafka_sink_topic_and_sizes_are_immutable_and_its_mode_is_not() -> None:
    old = kafka_sink(numPartitions=3, replicationFactor=1)
    check_sink(old)
    assert check_sink(kafka_sink(numPartitions=3, replicationFactor=1, contentMode="structured"), old) is None
    problem = check_sink(kafka_sink(topic="other", numPartitions=6, replicationFactor=1), old)
    assert problem is not None and "Immutable field updated" in problem
    assert "spec.topic" in problem and "spec.numPartitions" in problem


def annotated(key: str, value: str, broker: str = "default") -> dict:
    obj = trigger(broker=broker)
    obj["metadata"]["annotations"] = {key: value}
    return obj


DEPENDENCY = "knative.dev/dependency"
PING = '{"kind": "PingSource", "name": "beat", "apiVersion": "sources.knative.dev/v1"}'


@pytest.mark.parametrize(("value", "message"), [
    (PING, None),
    ('{"kind": "PingSource", "name": "beat", "apiVersion": "sources.knative.dev/v1", "namespace": "ns"}', None),
    ('{"kind": "PingSource", "name": "beat", "apiVersion": "sources.knative.dev/v1", "namespace": "other"}',
     'Namespace must be empty or equal to the trigger namespace "ns": '
     "metadata.annotations[knative.dev/dependency].namespace"),
    ('{"name": "beat"}', "missing field(s): metadata.annotations[knative.dev/dependency].apiVersion, "
                         "metadata.annotations[knative.dev/dependency].kind"),
    ("null", "missing field(s): metadata.annotations[knative.dev/dependency].apiVersion, "
             "metadata.annotations[knative.dev/dependency].kind, metadata.annotations[knative.dev/dependency].name"),
    ("PingSource/beat", 'The provided annotation was not a corev1.ObjectReference: "PingSource/beat": '
                        "metadata.annotations[knative.dev/dependency]"),
    ('["PingSource"]', 'The provided annotation was not a corev1.ObjectReference: "[\\"PingSource\\"]": '
                       "metadata.annotations[knative.dev/dependency]"),
    ('{"kind": 7, "name": "beat", "apiVersion": "v1"}', "The provided annotation was not a corev1.ObjectReference"),
])
def test_dependency_annotation_is_an_object_reference(value: str, message: str | None) -> None:
    problem = check(annotated(DEPENDENCY, value))
    if message is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(message), problem


@pytest.mark.parametrize(("value", "broker", "message"), [
    ("enabled", "default", None),
    ("disabled", "default", None),
    ("wut", "default", 'The provided injection annotation value can only be "enabled" or "disabled", not "wut"'),
    ("enabled", "other", "The provided injection annotation is only used for default broker, but non-default "
                         'broker specified here: "other"'),
])
def test_injection_annotation(value: str, broker: str, message: str | None) -> None:
    problem = check(annotated("eventing.knative.dev/injection", value, broker))
    if message is None:
        assert problem is None
    else:
        assert problem == f"{message}: metadata.annotations[eventing.knative.dev/injection]"
