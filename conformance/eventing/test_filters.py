"""The filter matrix: one trigger per case, one set of events, and each trigger gets exactly the events
its filter passes (filter.attributes, every `filters` dialect, missing attributes, extensions, "" values,
filters overriding filter), plus Knative's dialect rules at admission."""

from __future__ import annotations

import pytest

from conformance.eventing.support import TRIGGER, Bench, event, ids, sink_ref
from conformance.helpers import assert_invalid, refused, status_of, unique
from kproof.target import CEL_FILTERS, Target

# Every event is of a kproof.matrix.* type, so no trigger here sees another test's events.
EVENTS = {
    "order": {"type": "kproof.matrix.order", "source": "/shop/eu", "region": "eu", "tier": "gold"},
    "refund": {"type": "kproof.matrix.refund", "source": "/shop/us", "region": "us", "tier": ""},
    "plain": {"type": "kproof.matrix.plain", "source": "/misc"},
}
ALL = set(EVENTS)
SCOPE = {"prefix": {"type": "kproof.matrix."}}

CASES: dict[str, tuple[dict, set[str]]] = {
    "attr-type": ({"filter": {"attributes": {"type": "kproof.matrix.order"}}}, {"order"}),
    "attr-two-keys": ({"filter": {"attributes": {"type": "kproof.matrix.refund", "region": "us"}}}, {"refund"}),
    "attr-extension": ({"filter": {"attributes": {"region": "eu"}}}, {"order"}),
    "attr-case": ({"filter": {"attributes": {"region": "EU"}}}, set()),
    "attr-any-value": ({"filter": {"attributes": {"region": ""}}}, {"order", "refund"}),
    "attr-empty-value": ({"filter": {"attributes": {"tier": ""}}}, {"order"}),
    "exact": ({"filters": [SCOPE, {"exact": {"region": "us"}}]}, {"refund"}),
    "exact-missing": ({"filters": [SCOPE, {"exact": {"nothere": "x"}}]}, set()),
    "prefix": ({"filters": [{"prefix": {"type": "kproof.matrix.re"}}]}, {"refund"}),
    "suffix": ({"filters": [SCOPE, {"suffix": {"source": "/eu"}}]}, {"order"}),
    "all": ({"filters": [{"all": [SCOPE, {"exact": {"tier": "gold"}}]}]}, {"order"}),
    "any": ({"filters": [SCOPE, {"any": [{"exact": {"region": "us"}}, {"suffix": {"source": "misc"}}]}]},
            {"refund", "plain"}),
    "not": ({"filters": [SCOPE, {"not": {"exact": {"region": "eu"}}}]}, {"refund", "plain"}),
    "not-missing": ({"filters": [SCOPE, {"not": {"prefix": {"nothere": "x"}}}]}, ALL),
    "cesql": ({"filters": [SCOPE, {"cesql": "region IN ('eu', 'us') AND LENGTH(source) > 6"}]}, {"order", "refund"}),
    "cesql-missing": ({"filters": [SCOPE, {"cesql": "nothere = 'x' OR region = 'eu'"}]}, set()),
    "cesql-exists": ({"filters": [SCOPE, {"cesql": "EXISTS region AND NOT EXISTS nothere"}]}, {"order", "refund"}),
    "overrides": ({"filter": {"attributes": {"region": "us"}}, "filters": [SCOPE, {"exact": {"region": "eu"}}]},
                  {"order"}),
}


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#triggerfilter: \"All keys MUST "
                  "match\", \"an attribute with that name MUST be present\"; Knative docs, trigger filters: the "
                  "exact, prefix, suffix, all, any, not and cesql dialects (GA)")
def test_filter_matrix(bench: Bench) -> None:
    for case, (spec, _) in CASES.items():
        bench.trigger(f"matrix-{case}", f"/{case}", filters=spec.get("filters"),
                      attributes=(spec.get("filter") or {}).get("attributes"))
    sent = {}
    for name, attributes in EVENTS.items():
        body = event(attributes["type"], **{k: v for k, v in attributes.items() if k != "type"})
        assert bench.send(body)["status"] == 202
        sent[body["id"]] = name
    expected_total = sum(len(wanted) for _, wanted in CASES.values())
    records = bench.settled("sink", quiet=2.0)
    got: dict[str, set[str]] = {case: set() for case in CASES}
    for record in records:
        case = record["path"].lstrip("/")
        if case in got and record.get("event") and record["event"]["id"] in sent:
            got[case].add(sent[record["event"]["id"]])
    assert got == {case: wanted for case, (_, wanted) in CASES.items()}
    assert sum(1 for r in records if r["event"] and r["event"]["id"] in sent and r["path"].lstrip("/") in got) \
        == expected_total, "each matching event arrives exactly once"


@pytest.mark.spec("MAY", "alpha", source="kproof: a CEL filter dialect (seed 000 names CEL filters); not Knative's")
@pytest.mark.requires(CEL_FILTERS)
def test_cel_dialect(bench: Bench) -> None:
    """kproof's CEL extension (seed 000 names CEL filters); upstream Knative's broker skips the filter."""
    bench.trigger(unique("cel"), "/cel", filters=[{"cel": "type == 'kproof.cel' && data.score > 0.5"}])
    high, low = event("kproof.cel", data={"score": 0.9}), event("kproof.cel", data={"score": 0.1})
    assert bench.send(high)["status"] == 202 and bench.send(low)["status"] == 202
    assert ids(bench.settled("sink", "/cel")) == [high["id"]]


@pytest.mark.spec("SHOULD", "stable", source="knative/eventing pkg/eventfilter/subscriptionsapi: an empty all or any "
                  "filter passes every event")
def test_filters_all_and_any_when_empty_pass_everything(bench: Bench) -> None:
    bench.trigger(unique("t"), "/empty-all", filters=[{"all": []}, {"exact": {"type": "kproof.empty"}}])
    bench.trigger(unique("t"), "/empty-any", filters=[{"any": []}, {"exact": {"type": "kproof.empty"}}])
    sent = event("kproof.empty")
    bench.send(sent)
    assert ids(bench.await_records("sink", 1, "/empty-all")) == [sent["id"]]
    assert ids(bench.await_records("sink", 1, "/empty-any")) == [sent["id"]]


def _trigger(target: Target, namespace: str, filters: list) -> dict:
    return {"apiVersion": TRIGGER[0], "kind": TRIGGER[1], "metadata": {"name": unique("t"), "namespace": namespace},
            "spec": {"broker": "default", "subscriber": sink_ref("sink", namespace), "filters": filters}}


@pytest.mark.spec("SHOULD", "stable", source="knative/eventing Trigger validation: \"multiple dialects found\"")
def test_one_dialect_per_filter(bench: Bench) -> None:
    err = refused(lambda: bench.target.create(_trigger(bench.target, bench.namespace, [
        {"exact": {"type": "a"}, "prefix": {"type": "b"}}])))
    assert err.status in (400, 422) and "multiple dialects found" in status_of(err).get("message", "")


@pytest.mark.spec("SHOULD", "stable", source="knative/eventing Trigger validation of `filters`")
@pytest.mark.parametrize(("filters", "field"), [
    ([{"prefix": {"Type": "a"}}], "spec.filters[0].prefix"),
    ([{"any": [{"cesql": "LENGTH("}]}], "spec.filters[0].any[0].cesql"),
])
def test_malformed_filters_are_refused(bench: Bench, filters: list, field: str) -> None:
    err = refused(lambda: bench.target.create(_trigger(bench.target, bench.namespace, filters)))
    assert_invalid(err, field)
