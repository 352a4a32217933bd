"""EventPolicy (eventing.knative.dev/v1alpha1) and sender identity: with `authentication-oidc` enabled a Broker
announces an audience and asks each sender for a token of it (a ServiceAccount's, from the API server's
TokenRequest); an EventPolicy decides who may send what: a request without a token gets 401, one from a subject
or with an event no applying policy allows gets 403 and is never delivered. Knative's Authorization example
applied as the docs give it: of two PingSources sending to a Broker, only the one the EventPolicy names gets
through, and once the policy is gone the default mode (allow-same-namespace) lets only the Broker's own
namespace's source through. Policies resolve `from.ref` to the ServiceAccount a source sends as; bad specs are
refused naming the field, and no policy is accepted while the feature is off."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conformance.eventing.docs_support import (
    EVENT_POLICY,
    KSVC,
    PING_SOURCE,
    apply_example,
    displayed,
    example,
    fixed_namespaces,
    pod_log,
    service_account,
    token_for,
)
from conformance.eventing.support import BROKER, TRIGGER, Bench, event
from conformance.helpers import assert_invalid, eventually, refused, restoring_config, status_of, unique
from kproof.target import Target, condition_status

DOCS = "https://knative.dev/docs/eventing/features/authorization/"
IDENTITY = "https://knative.dev/docs/eventing/features/sender-identity/"
PING_SA = "system:serviceaccount:namespace-2:pingsource-2-oidc-sources.knative.dev-pingsource"
# PingSources fire on the minute: a tick is at most a minute away (plus the send's jitter).
TICK = 80


@pytest.fixture(autouse=True)
def _served(target: Target) -> None:
    try:
        target.resource(*EVENT_POLICY)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve eventing.knative.dev/v1alpha1 EventPolicy")


@pytest.fixture
def oidc(target: Target) -> Iterator[None]:
    """Sender identity on for the test (`authentication-oidc: enabled`), as it was afterwards."""
    with restoring_config(target, "knative-eventing", "config-features"):
        target.patch("v1", "ConfigMap", "config-features", {"data": {"authentication-oidc": "enabled"}},
                     "knative-eventing")
        yield


def policy(name: str, namespace: str, to: list[dict] | None = None, senders: list[dict] | None = None,
           filters: list[dict] | None = None) -> dict:
    spec: dict = {}
    if to is not None:
        spec["to"] = to
    if senders is not None:
        spec["from"] = senders
    if filters is not None:
        spec["filters"] = filters
    return {"apiVersion": EVENT_POLICY[0], "kind": EVENT_POLICY[1], "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def broker_ref(name: str) -> dict:
    return {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": name}}


def applied(broker: dict | None) -> list[str]:
    return [p["name"] for p in ((broker or {}).get("status") or {}).get("policies") or []]


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_a_refused_event_is_never_delivered_and_its_sender_gets_403(bench: Bench, oidc: None) -> None:
    target, namespace = bench.target, bench.namespace
    name = unique("policy")
    path = f"/{name}"
    broker = target.wait_until(*BROKER, "default", lambda b: bool(((b or {}).get("status") or {}).get(
        "address", {}).get("audience")), namespace, 30, what="announcing an audience")
    assert broker is not None
    audience = broker["status"]["address"]["audience"]
    assert audience == f"eventing.knative.dev/broker/{namespace}/default"
    trusted, untrusted = f"{name}-trusted", f"{name}-untrusted"
    for account in (trusted, untrusted):
        target.create(service_account(account, namespace))
    target.create(policy(name, namespace, [broker_ref("default")],
                         [{"sub": f"system:serviceaccount:{namespace}:{trusted}"}],
                         [{"prefix": {"type": "kproof.allowed"}}]))
    try:
        ready = target.wait_for(*EVENT_POLICY, name, namespace, timeout=30)
        assert ready["status"]["from"] == [f"system:serviceaccount:{namespace}:{trusted}"]
        found = target.wait_until(*BROKER, "default", lambda b: name in applied(b), namespace, 30,
                                  what="applying the policy")
        assert condition_status(found or {}, "EventPoliciesReady") == "True"
        bench.trigger(name, path)

        def send(body: dict, account: str | None, for_audience: str = audience) -> int:
            headers = {"ce-specversion": "1.0", "ce-id": body["id"], "ce-source": body["source"],
                       "ce-type": body["type"], "content-type": "application/json"}
            if account:
                headers["Authorization"] = f"Bearer {token_for(target, namespace, account, for_audience)}"
            return int(bench.forward(method="POST", headers=headers, body='{"n": 1}')["status"])

        allowed = event("kproof.allowed.order")
        eventually(lambda: send(event("kproof.allowed.probe"), None) == 401, 30,
                   "the ingress asking for a token (the data plane has the feature on)")
        refused_events = {"no token": (event("kproof.allowed.a"), None, 401),
                          "other audience": (event("kproof.allowed.b"), trusted, 401),
                          "subject not allowed": (event("kproof.allowed.c"), untrusted, 403),
                          "event not allowed": (event("kproof.other"), trusted, 403)}
        eventually(lambda: send(event("kproof.allowed.probe"), untrusted) == 403, 30, "the policy enforced")
        for what, (body, account, status) in refused_events.items():
            sent = send(body, account, "eventing.knative.dev/broker/elsewhere/other" if what == "other audience"
                        else audience)
            assert sent == status, f"{what}: {sent}, not {status}"
        assert send(allowed, trusted) == 202
        records = bench.await_records("sink", 1, path)
        records = bench.settled("sink", path, quiet=2.0)
    finally:
        target.delete(*EVENT_POLICY, name, namespace, wait=False)
    delivered = [r["event"]["id"] for r in records]
    assert delivered == [allowed["id"]], "only the allowed event is delivered, the refused ones never"


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_the_docs_example_lets_only_the_policys_pingsource_reach_the_broker(target: Target) -> None:
    with fixed_namespaces(target, "namespace-1", "namespace-2"):
        apply_example(target, "eventpolicy", "namespaces-broker-pingsources.yaml", "event-display-trigger.yaml")
        target.wait_for(*KSVC, "event-display", "namespace-1", timeout=180)
        target.wait_for(*TRIGGER, "trigger", "namespace-1", timeout=60)

        def displayed_pings() -> list[dict]:
            log = pod_log(target, "namespace-1", "serving.knative.dev/service=event-display", "user-container")
            return [e for e in displayed(log) if e.get("type") == "dev.knative.sources.ping"]

        def sources_of(events: list[dict], since: str = "") -> set[str]:
            return {e["source"] for e in events if e.get("time", "") > since}

        both = {f"/apis/v1/namespaces/namespace-{n}/pingsources/pingsource-{n}" for n in (1, 2)}
        eventually(lambda: sources_of(displayed_pings()) == both, TICK + 60,
                   "the events of both PingSources displayed (no identity asked yet)")

        with restoring_config(target, "knative-eventing", "config-features"):
            # kubectl -n knative-eventing patch cm config-features --type merge
            #   --patch '{"data":{"authentication-oidc":"enabled"}}'
            target.patch("v1", "ConfigMap", "config-features", {"data": {"authentication-oidc": "enabled"}},
                         "knative-eventing")
            apply_example(target, "eventpolicy", "event-policy.yaml")
            ready = target.wait_for(*EVENT_POLICY, "event-policy", "namespace-1", timeout=60)
            assert ready["status"]["from"] == [PING_SA]
            broker = target.wait_until(*BROKER, "broker", lambda b: applied(b) == ["event-policy"], "namespace-1",
                                       30, what="applying event-policy")
            assert broker is not None and condition_status(broker, "EventPoliciesReady") == "True"
            assert broker["status"]["policies"] == [{"apiVersion": "eventing.knative.dev/v1alpha1",
                                                     "name": "event-policy"}]
            time.sleep(2)  # the data plane learns of the policy
            since = max(e["time"] for e in displayed_pings())
            eventually(lambda: "/apis/v1/namespaces/namespace-2/pingsources/pingsource-2" in sources_of(
                displayed_pings(), since), TICK, "a tick of pingsource-2 displayed under the policy")
            time.sleep(3)  # pingsource-1's send of the same tick, refused
            after = [e for e in displayed_pings() if e["time"] > since]
            assert sources_of(after) == {"/apis/v1/namespaces/namespace-2/pingsources/pingsource-2"}, \
                "only the PingSource the policy names gets through"
            assert after[0]["data"] == {"message": "Hi from pingsource-2 from namespace-2"}

            # kubectl -n namespace-1 delete eventpolicy event-policy
            target.delete(*EVENT_POLICY, "event-policy", "namespace-1")
            broker = target.wait_until(*BROKER, "broker", lambda b: not applied(b) and condition_status(
                b or {}, "EventPoliciesReady") == "True", "namespace-1", 30, what="back to the default mode")
            assert broker is not None
            default = next(c for c in broker["status"]["conditions"] if c["type"] == "EventPoliciesReady")
            assert default["reason"] == "DefaultAuthorizationMode"
            assert default["message"] == 'Default authz mode is "Allow-Same-Namespace"'
            time.sleep(2)
            since = max(e["time"] for e in displayed_pings())
            eventually(lambda: "/apis/v1/namespaces/namespace-1/pingsources/pingsource-1" in sources_of(
                displayed_pings(), since), TICK, "a tick of pingsource-1 displayed in the default mode")
            time.sleep(3)
            assert sources_of(displayed_pings(), since) == {
                "/apis/v1/namespaces/namespace-1/pingsources/pingsource-1"}, "only the Broker's own namespace"


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_the_docs_policy_resolves_its_subjects_and_applies_by_ref_and_selector(target: Target, oidc: None) -> None:
    docs_policy = example("eventpolicy", "my-event-policy.yaml")[0]
    with fixed_namespaces(target, "another-namespace"):
        target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "another-namespace"}})
        target.create({"apiVersion": PING_SOURCE[0], "kind": PING_SOURCE[1],
                       "metadata": {"name": "my-source", "namespace": "another-namespace"},
                       "spec": {"schedule": "0 0 1 1 *", "sink": {"uri": "http://example.com"}}})
        target.create({"apiVersion": BROKER[0], "kind": BROKER[1],
                       "metadata": {"name": "special", "namespace": "default", "labels": {"app": "special-app"}}})
        try:
            target.apply(docs_policy)
            ready = target.wait_for(*EVENT_POLICY, "my-event-policy", "default", timeout=60)
            assert ready["status"]["from"] == [
                "system:serviceaccount:another-namespace:my-source-oidc-sources.knative.dev-pingsource",
                "system:serviceaccount:default:trusted-app", "system:serviceaccount:default:other-*"]
            selected = target.wait_until(*BROKER, "special", lambda b: "my-event-policy" in applied(b), "default", 30,
                                         what="selected by the policy")
            assert selected is not None
        finally:
            target.delete(*EVENT_POLICY, "my-event-policy", "default", wait=False)
            target.delete(*BROKER, "special", "default", wait=False)


@pytest.mark.spec("MUST", "alpha", source=DOCS)
@pytest.mark.parametrize(("senders", "field"), [
    ([{}], "spec.from[0].ref"),
    ([{"sub": "system:*:default"}], "spec.from[0].sub"),
    ([{"ref": {"apiVersion": "sources.knative.dev/v1", "kind": "PingSource"}}], "spec.from[0].ref.name"),
], ids=["neither ref nor sub", "a star inside", "ref without name"])
def test_bad_specs_are_refused_naming_the_field(target: Target, namespace: str, oidc: None, senders: list[dict],
                                                field: str) -> None:
    manifest = policy(unique("bad"), namespace, senders=senders)
    assert_invalid(refused(lambda: target.create(manifest)), field)


@pytest.mark.spec("MUST", "alpha", source=IDENTITY)
def test_no_policy_is_accepted_while_sender_identity_is_off(target: Target, namespace: str) -> None:
    features = target.get("v1", "ConfigMap", "config-features", "knative-eventing") or {}
    if (features.get("data") or {}).get("authentication-oidc", "disabled").lower() == "enabled":
        pytest.skip("sender identity is enabled on this target")
    err = refused(lambda: target.create(policy(unique("off"), namespace, senders=[{"sub": "x"}])))
    assert err.status in (400, 422)
    assert "oidc-authentication feature not enabled" in status_of(err).get("message", "")


@pytest.mark.spec("MUST", "alpha", source=IDENTITY)
def test_a_source_sends_with_a_token_of_its_own_service_account(bench: Bench, oidc: None) -> None:
    """A PingSource gets an OIDC ServiceAccount of its own and a sink audience; the Broker's default mode
    (allow-same-namespace) lets it in."""
    target, namespace = bench.target, bench.namespace
    name = unique("identity")
    path = f"/{name}"
    bench.trigger(name, path, attributes={"source": f"/apis/v1/namespaces/{namespace}/pingsources/{name}"})
    target.create({"apiVersion": PING_SOURCE[0], "kind": PING_SOURCE[1],
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"schedule": "* * * * *", "data": "hi",
                            "sink": {"ref": {"apiVersion": BROKER[0], "kind": BROKER[1], "name": "default"}}}})
    try:
        ready = target.wait_for(*PING_SOURCE, name, namespace, timeout=60)
        account = ready["status"]["auth"]["serviceAccountName"]
        assert account == f"{name}-oidc-sources.knative.dev-pingsource"
        assert ready["status"]["sinkAudience"] == f"eventing.knative.dev/broker/{namespace}/default"
        assert target.get("v1", "ServiceAccount", account, namespace) is not None
        record = bench.await_records("sink", 1, path, timeout=TICK)[0]
    finally:
        target.delete(*PING_SOURCE, name, namespace, wait=False)
    assert record["event"]["type"] == "dev.knative.sources.ping"
