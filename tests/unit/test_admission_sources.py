import pytest

from reference.apiserver.admission.sources import (
    cron_problem,
    default_kafka_source,
    validate_kafka_source,
    validate_ping_source,
)
from tests.unit.admission_helpers import context

SINK = {"uri": "http://sink.example.com"}


def kafka(**spec: object) -> dict:
    return {"metadata": {"name": "k", "namespace": "ns"},
            "spec": {"bootstrapServers": ["127.0.0.1:9092"], "topics": ["demo"], "sink": SINK, **spec}}


def test_kafka_source_defaults() -> None:
    obj = kafka()
    default_kafka_source(obj, None, context())
    assert obj["spec"]["consumerGroup"].startswith("knative-kafka-source-")
    assert (obj["spec"]["consumers"], obj["spec"]["initialOffset"], obj["spec"]["ordering"]) == (1, "latest", "ordered")
    assert validate_kafka_source(obj, None, context()) is None


def test_kafka_source_consumer_group_is_immutable() -> None:
    old = kafka(consumerGroup="a")
    new = kafka(consumerGroup="b")
    assert str(validate_kafka_source(new, old, context("UPDATE"))).startswith(
        "Immutable fields changed (-old +new): spec")


@pytest.mark.parametrize(("spec", "message"), [
    ({"topics": []}, "missing field(s): spec.topics"),
    ({"initialOffset": "middle"}, "invalid value: middle: spec.initialOffset"),
    ({"ordering": "sorted"}, "invalid value: sorted: spec.ordering\nexpected one of: [ordered,unordered]"),
    ({"sink": {}}, "expected at least one, got none: spec.sink.ref, spec.sink.uri"),
    ({"ceOverrides": {"extensions": {"bad-key": "x"}}},
     'invalid key name "bad-key": spec.ceOverrides.extensions\n'
     "keys MUST consist of lower-case letters ('a' to 'z') or digits ('0' to '9') from the ASCII character set"),
])
def test_invalid_kafka_source(spec: dict, message: str) -> None:
    assert str(validate_kafka_source(kafka(**spec), None, context())) == message


@pytest.mark.parametrize(("schedule", "problem"), [
    ("*/2 * * * *", None),
    ("0 9 * * MON-FRI", None),
    ("@hourly", None),
    ("CRON_TZ=Europe/Berlin 0 * * * *", None),
    ("* * *", "expected exactly 5 fields, found 3: [* * *]"),
    ("@sometimes", "unrecognized descriptor: @sometimes"),
])
def test_cron(schedule: str, problem: str | None) -> None:
    assert cron_problem(schedule) == problem


def test_ping_source_rules() -> None:
    def ping(**spec: object) -> str:
        obj = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"schedule": "* * * * *", "sink": SINK, **spec}}
        return str(validate_ping_source(obj, None, context()))

    assert ping(data="a", dataBase64="YQ==") == "expected exactly one, got both: spec.data, spec.dataBase64"
    assert ping(schedule="@every 1m") == "invalid value: unsupported descriptor @every: spec.schedule"
    assert ping(timezone="Mars/Olympus").startswith("invalid value: provided bad location Mars/Olympus")
    assert ping(contentType="application/json", data="[1]").startswith("invalid value: ")
    assert ping(contentType="application/json", data='{"a": 1}') == "None"
