"""KafkaSink (eventing.knative.dev/v1alpha1): an addressable that writes each event it accepts to a Kafka
topic, in binary or structured content mode, answering 202 once Kafka has it. It can be a Trigger's
subscriber, and a KafkaSource reading its topic closes the loop. Bad input: 400 for a malformed event,
422 naming the field for an invalid sink, and a not-Ready condition when its topic is missing."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conformance.eventing.support import TRIGGER, Bench, event, sink_ref
from conformance.helpers import eventually, unique
from conformance.sources.kafka_support import KAFKA_SOURCE, consume, kafka_of, kafka_source, new_topic
from kproof.target import KAFKA, Target, condition_status

KAFKA_SINK = ("eventing.knative.dev/v1alpha1", "KafkaSink")


def require_kafka_sink(target: Target) -> None:
    try:
        target.resource(*KAFKA_SINK)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve KafkaSink (Knative's eventing-kafka-broker is not installed)")


def kafka_sink(bench: Bench, bootstrap: str, topic: str, wait: bool = True, **spec: object) -> dict:
    require_kafka_sink(bench.target)
    name = unique("ks")
    bench.target.create({"apiVersion": KAFKA_SINK[0], "kind": KAFKA_SINK[1],
                         "metadata": {"name": name, "namespace": bench.namespace},
                         "spec": {"topic": topic, "bootstrapServers": bootstrap.split(","), **spec}})
    if not wait:
        return bench.target.get(*KAFKA_SINK, name, bench.namespace) or {}
    return bench.target.wait_for(*KAFKA_SINK, name, bench.namespace, timeout=60)


def headers_of(record) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers() or []}


@pytest.mark.spec("SHOULD", "alpha", source="Knative docs, eventing/sinks/kafka-sink (KafkaSink, "
                  "eventing.knative.dev/v1alpha1): each accepted event is written to the topic, in binary or "
                  "structured content mode")
@pytest.mark.requires(KAFKA)
@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_events_posted_to_a_kafka_sink_arrive_in_its_topic(bench: Bench, mode: str) -> None:
    bootstrap = kafka_of(bench.target)
    topic = f"kproof-sink-{uuid.uuid4().hex[:8]}"
    sink = kafka_sink(bench, bootstrap, topic, numPartitions=3, replicationFactor=1, contentMode=mode)
    name = sink["metadata"]["name"]
    url = sink["status"]["address"]["url"]
    assert url == f"http://kafka-sink-ingress.knative-eventing.svc.cluster.local/{bench.namespace}/{name}"

    sent = event("kproof.sink.order", partitionkey="customer-7", data={"order": 42})
    assert bench.send(sent, url=url)["status"] == 202
    malformed = bench.forward(url, headers={"ce-specversion": "1.0", "content-type": "application/json"},
                              body='{"order": 1}')
    assert malformed["status"] == 400, "an event without id, source and type is refused"
    unknown = bench.forward(url.rsplit("/", 1)[0] + "/nothing-here", headers={}, body="{}")
    assert unknown["status"] == 404

    (record,) = consume(bootstrap, topic, 1, timeout=30)
    headers = headers_of(record)
    assert record.key() == b"customer-7", "the partitionkey extension is the record's key"
    if mode == "binary":
        assert headers["ce_id"] == sent["id"] and headers["ce_type"] == "kproof.sink.order"
        assert headers["content-type"] == "application/json" and json.loads(record.value()) == {"order": 42}
    else:
        assert headers["content-type"].startswith("application/cloudevents+json")
        body = json.loads(record.value())
        assert body["id"] == sent["id"] and body["type"] == "kproof.sink.order" and body["data"] == {"order": 42}


@pytest.mark.spec("SHOULD", "alpha", source="Knative docs, eventing/sinks/kafka-sink (KafkaSink, "
                  "eventing.knative.dev/v1alpha1): a KafkaSink is an Addressable a Trigger can deliver to")
@pytest.mark.requires(KAFKA)
def test_trigger_to_kafka_sink_to_kafka_source_delivers_end_to_end(bench: Bench) -> None:
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=3)
    sink = kafka_sink(bench, bootstrap, topic)  # the topic exists: the sink finds it and leaves it be
    assert sink["status"]["annotations"]["eventing.knative.dev/topic.owner"] == "external"
    source = kafka_source(unique("loop"), bench.namespace, bootstrap, [topic], sink_ref("sink", bench.namespace,
                                                                                       "/loop"),
                          initialOffset="earliest")
    bench.target.create(source)
    bench.target.wait_for(*KAFKA_SOURCE, source["metadata"]["name"], bench.namespace, timeout=90)
    bench.configure("sink")
    trigger = unique("to-kafka")
    bench.target.create({"apiVersion": TRIGGER[0], "kind": TRIGGER[1],
                         "metadata": {"name": trigger, "namespace": bench.namespace},
                         "spec": {"broker": bench.broker, "filters": [{"exact": {"type": "kproof.loop"}}],
                                  "subscriber": {"ref": {"apiVersion": KAFKA_SINK[0], "kind": KAFKA_SINK[1],
                                                         "name": sink["metadata"]["name"]}}}})
    bench.target.wait_for(*TRIGGER, trigger, bench.namespace, timeout=60)

    wanted = [event("kproof.loop", data={"n": n}) for n in range(5)]
    for body in [*wanted, event("kproof.other")]:
        assert bench.send(body)["status"] == 202
    records = bench.settled("sink", "/loop", quiet=2.0)
    got = {r["event"]["id"]: r for r in records if r.get("event")}
    assert set(got) == {e["id"] for e in wanted}, "broker -> trigger -> KafkaSink -> topic -> KafkaSource"
    first = got[wanted[0]["id"]]
    assert first["event"]["type"] == "kproof.loop" and first["event"]["source"] == "/kproof/conformance"
    assert first["data"] == {"n": 0}, "the event passes through the topic as it was"


@pytest.mark.spec("SHOULD", "alpha", source="Knative docs, eventing/sinks/kafka-sink (KafkaSink, "
                  "eventing.knative.dev/v1alpha1): topic and bootstrapServers are required")
def test_an_invalid_kafka_sink_is_refused_naming_the_field(bench: Bench) -> None:
    require_kafka_sink(bench.target)
    base = {"apiVersion": KAFKA_SINK[0], "kind": KAFKA_SINK[1], "metadata": {"namespace": bench.namespace}}
    for spec, field in (({"bootstrapServers": ["127.0.0.1:9092"]}, "spec.topic"),
                        ({"topic": "t", "bootstrapServers": ["127.0.0.1:9092"], "numPartitions": 0},
                         "spec.numPartitions"),
                        ({"topic": "t", "bootstrapServers": ["127.0.0.1:9092"], "contentMode": "json"},
                         "spec.contentMode")):
        with pytest.raises(ApiException) as refused:
            bench.target.create({**base, "metadata": {**base["metadata"], "name": unique("bad")}, "spec": spec})
        assert refused.value.status == 422 and field in refused.value.body, refused.value.body


@pytest.mark.spec("SHOULD", "alpha", source="knative/specs common/error-signalling.md: \"Conditions where the status "
                  "is False MUST provide a failure reason\"; Knative docs, eventing/sinks/kafka-sink (KafkaSink, "
                  "eventing.knative.dev/v1alpha1)")
@pytest.mark.requires(KAFKA)
def test_a_kafka_sink_whose_topic_is_missing_is_not_ready_and_says_why(bench: Bench) -> None:
    bootstrap = kafka_of(bench.target)
    sink = kafka_sink(bench, bootstrap, f"kproof-missing-{uuid.uuid4().hex[:8]}", wait=False)

    def topic_condition() -> dict | None:
        found = bench.target.get(*KAFKA_SINK, sink["metadata"]["name"], bench.namespace) or {}
        return next((c for c in (found.get("status") or {}).get("conditions") or []
                     if c["type"] == "TopicReady" and c["status"] == "False"), None)

    condition = eventually(topic_condition, 30, "TopicReady=False")
    assert condition["reason"] == "Topic is not present or invalid"
    assert condition_status(bench.target.get(*KAFKA_SINK, sink["metadata"]["name"], bench.namespace)) == "False"
