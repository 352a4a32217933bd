"""Parallel (flows.knative.dev/v1): Knative's "Parallel with multiple cases" example applied as the docs give
it (an even and an odd branch, each a filter and a transformer, replying to event-display), its channels,
Subscriptions and status; 1,000 events through two branches, none lost or duplicated, also past a branch
that fails a fifth of its attempts; bad specs refused naming the field."""

from __future__ import annotations

import pytest

from conformance.eventing.docs_support import apply_example
from conformance.eventing.flows_support import (
    KSVC,
    PARALLEL,
    PING_SOURCE,
    displayed_events,
    duplicates,
    event_display_log,
    flow,
    flow_address,
    numbered,
    send_many,
)
from conformance.eventing.support import IMC, SUBSCRIPTION, Bench, event, ids, sink_ref
from conformance.helpers import assert_invalid, eventually, refused, unique

DOCS = "https://github.com/knative/docs/tree/main/code-samples/eventing/parallel/multiple-branches"
FLOWS = "https://knative.dev/docs/eventing/flows/parallel/"
EVENTS = 1000
EVEN_MINUTE, ODD_MINUTE = "2020-03-03T21:24:00.0007254Z", "2020-03-03T21:23:00.0004662Z"


@pytest.fixture(scope="module")
def functions(bench: Bench) -> Bench:
    """The docs' filters, transformers and event-display, Ready."""
    apply_example(bench.target, "parallel", "filters.yaml", "transformers.yaml", "event-display.yaml",
                  namespace=bench.namespace)
    for name in ("even-filter", "odd-filter", "even-transformer", "odd-transformer", "event-display"):
        bench.target.wait_for(*KSVC, name, bench.namespace, timeout=180)
    return bench


def parallel(name: str, namespace: str, branches: list[dict], reply: dict | None = None) -> dict:
    return flow(PARALLEL, name, namespace, branches, reply)


def address(bench: Bench, name: str) -> str:
    return flow_address(bench, PARALLEL, name)


@pytest.mark.spec("MUST", "stable", source=DOCS)
def test_the_docs_parallel_sends_each_event_down_the_branch_its_filter_passes(functions: Bench) -> None:
    bench = functions
    apply_example(bench.target, "parallel", "parallel.yaml", "ping-source.yaml", namespace=bench.namespace)
    status = bench.target.wait_for(*PARALLEL, "odd-even-parallel", bench.namespace, timeout=90)["status"]
    ingress = bench.target.get(*IMC, "odd-even-parallel-kn-parallel", bench.namespace)
    assert ingress is not None and status["address"]["url"] == ingress["status"]["address"]["url"]
    assert status["ingressChannelStatus"]["channel"]["name"] == "odd-even-parallel-kn-parallel"
    assert len(status["branchStatuses"]) == 2
    for i, branch in enumerate(status["branchStatuses"]):
        assert branch["filterChannelStatus"]["channel"]["name"] == f"odd-even-parallel-kn-parallel-{i}"
        assert branch["filterSubscriptionStatus"]["subscription"]["name"] == f"odd-even-parallel-kn-parallel-filter-{i}"
        assert branch["subscriberSubscriptionStatus"]["subscription"]["name"] == f"odd-even-parallel-kn-parallel-{i}"
        assert all(s["ready"]["status"] == "True" for s in branch.values())
    wiring = bench.target.get(*SUBSCRIPTION, "odd-even-parallel-kn-parallel-filter-0", bench.namespace)["spec"]
    assert wiring["subscriber"]["ref"]["name"] == "even-filter"
    assert wiring["reply"]["ref"]["name"] == "odd-even-parallel-kn-parallel-0", "the filter's reply feeds its branch"
    ping = bench.target.wait_for(*PING_SOURCE, "ping-source", bench.namespace, timeout=60)
    assert ping["status"]["sinkUri"] == status["address"]["url"], "the PingSource's sink resolves to the Parallel"
    bench.target.delete(*PING_SOURCE, "ping-source", bench.namespace)

    even = event("dev.knative.sources.ping", time=EVEN_MINUTE, data={"message": "Even or odd?"})
    odd = event("dev.knative.sources.ping", time=ODD_MINUTE, data={"message": "Even or odd?"})
    for sent in (even, odd):
        assert bench.send(sent, url=status["address"]["url"])["status"] == 202

    def shown() -> dict | None:
        found = displayed_events(event_display_log(bench.target, bench.namespace))
        return found if {even["id"], odd["id"]} <= set(found) else None

    displayed = eventually(shown, 30, "both events in event-display's log")
    assert isinstance(displayed, dict)
    assert displayed[even["id"]]["data"] == {"message": "we are even!"}
    assert displayed[odd["id"]]["data"] == {"message": "this is odd!"}
    assert displayed[even["id"]]["type"] == "dev.knative.sources.ping", "the transformer keeps the attributes"
    log = event_display_log(bench.target, bench.namespace)
    assert log.count(f"id: {even['id']}") == 1 and log.count(f"id: {odd['id']}") == 1, "one branch each"


@pytest.mark.spec("MUST", "stable", source=FLOWS)
def test_a_two_branch_parallel_carries_1000_events_down_both_branches(functions: Bench) -> None:
    bench = functions
    name = unique("bulk")
    bench.configure("sink")
    branches = [{"subscriber": sink_ref(f"{kind}-transformer", bench.namespace),
                 "reply": sink_ref("sink", bench.namespace, f"/{name}-{kind}")} for kind in ("even", "odd")]
    bench.target.create(parallel(name, bench.namespace, branches))
    bodies = numbered("kproof.parallel.bulk", EVENTS)
    assert set(send_many(bench, address(bench, name), bodies)) == {202}
    sent = sorted(b["id"] for b in bodies)
    for kind, message in (("even", "we are even!"), ("odd", "this is odd!")):
        records = bench.await_records("sink", EVENTS, f"/{name}-{kind}", timeout=120)
        assert not duplicates(ids(records)), f"no event arrives twice on the {kind} branch"
        assert sorted(ids(records)) == sent, f"every event reaches the {kind} branch's reply"
        assert all(r["data"] == {"message": message} for r in records)
    assert len(bench.settled("sink", quiet=1.0)) == 2 * EVENTS


@pytest.mark.spec("MUST", "stable", source=FLOWS)
def test_retries_carry_every_event_past_a_branch_failing_a_fifth_of_its_attempts(functions: Bench) -> None:
    bench = functions
    name = unique("retry")
    bench.configure("sink")
    bench.configure("flaky", fail_rate=0.2, fail_status=503, reply={"echo": True})
    branches = [{"subscriber": sink_ref("flaky", bench.namespace),
                 "delivery": {"retry": 10, "backoffPolicy": "linear", "backoffDelay": "PT0.05S"},
                 "reply": sink_ref("sink", bench.namespace, f"/{name}-flaky")},
                {"subscriber": sink_ref("sink", bench.namespace, f"/{name}-direct")}]
    bench.target.create(parallel(name, bench.namespace, branches))
    bodies = numbered("kproof.parallel.retry", EVENTS)
    assert set(send_many(bench, address(bench, name), bodies)) == {202}
    sent = sorted(b["id"] for b in bodies)
    for path in (f"/{name}-flaky", f"/{name}-direct"):
        records = bench.await_records("sink", EVENTS, path, timeout=180)
        assert sorted(set(ids(records))) == sent, f"no event is lost on {path}"
        assert not duplicates(ids(records))
    assert len([r for r in bench.records("flaky") if r["status"] == 503]) > EVENTS * 0.1


@pytest.mark.spec("MUST", "stable", source=FLOWS)
def test_a_branch_reply_wins_over_the_parallel_reply(functions: Bench) -> None:
    bench = functions
    name = unique("replies")
    bench.configure("sink")
    branches = [{"subscriber": sink_ref("even-transformer", bench.namespace),
                 "reply": sink_ref("sink", bench.namespace, f"/{name}-own")},
                {"subscriber": sink_ref("odd-transformer", bench.namespace)}]
    bench.target.create(parallel(name, bench.namespace, branches,
                                 reply=sink_ref("sink", bench.namespace, f"/{name}-shared")))
    sent = event("kproof.parallel.reply", data={"n": 1})
    bench.send(sent, url=address(bench, name))
    (own,) = bench.await_records("sink", 1, f"/{name}-own")
    (shared,) = bench.await_records("sink", 1, f"/{name}-shared")
    assert (own["event"]["id"], own["data"]) == (sent["id"], {"message": "we are even!"})
    assert (shared["event"]["id"], shared["data"]) == (sent["id"], {"message": "this is odd!"})


@pytest.mark.spec("MUST", "stable", source="knative/eventing pkg/apis/flows/v1/parallel_validation.go")
@pytest.mark.parametrize(("spec", "field"), [
    ({"branches": []}, "spec.branches"),
    ({"branches": [{"filter": {"uri": "http://example.com"}}]}, "spec.branches.subscriber[0]"),
    ({"branches": [{"subscriber": {"uri": "http://example.com"}, "filter": {"uri": "/relative"}}]},
     "spec.branches.filter[0]"),
    ({"branches": [{"subscriber": {"uri": "http://example.com"}}], "channelTemplate": {"apiVersion": "v1"}},
     "spec.channelTemplate.kind"),
], ids=["no-branches", "no-subscriber", "relative-filter", "template-without-kind"])
def test_a_bad_parallel_is_refused_naming_the_field(bench: Bench, spec: dict, field: str) -> None:
    body = {"apiVersion": PARALLEL[0], "kind": PARALLEL[1],
            "metadata": {"name": unique("bad"), "namespace": bench.namespace}, "spec": spec}
    assert_invalid(refused(lambda: bench.target.create(body)), field)
