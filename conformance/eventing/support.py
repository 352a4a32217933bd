"""An eventing test bench: a namespace with a Broker and recorder Services (a sender, sinks, a dead-letter
sink), all reached through the target's ingress, so the same tests run on the reference and on a cluster.

Events go into the cluster through the sender's /send (or /forward for raw requests): the broker ingress
and channels have cluster-local addresses, which only workloads inside the platform can reach.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conformance.helpers import eventually
from conformance.serving.support import deploy, service
from kproof.target import Target

BROKER = ("eventing.knative.dev/v1", "Broker")
TRIGGER = ("eventing.knative.dev/v1", "Trigger")
CHANNEL = ("messaging.knative.dev/v1", "Channel")
IMC = ("messaging.knative.dev/v1", "InMemoryChannel")
SUBSCRIPTION = ("messaging.knative.dev/v1", "Subscription")
KSVC_REF = {"apiVersion": "serving.knative.dev/v1", "kind": "Service"}
PINNED = {"autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/max-scale": "1"}
RECORDERS = ("sender", "sink", "flaky", "dls", "replier")
DELIVERY_TIMEOUT = 30.0


def event(type_: str, **attributes: object) -> dict:
    """A structured CloudEvent with a fresh id."""
    body = {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/kproof/conformance", "type": type_,
            "datacontenttype": "application/json", "data": {"sent": time.time()}}
    body.update(attributes)
    return body


def broker_manifest(name: str, namespace: str, delivery: dict | None = None) -> dict:
    return {"apiVersion": BROKER[0], "kind": BROKER[1], "metadata": {"name": name, "namespace": namespace},
            "spec": {"delivery": delivery} if delivery else {}}


def sink_ref(name: str, namespace: str, path: str | None = None) -> dict:
    destination: dict = {"ref": {**KSVC_REF, "name": name, "namespace": namespace}}
    if path:
        destination["uri"] = path
    return destination


@dataclass
class Bench:
    target: Target
    namespace: str
    broker: str = "default"
    sender: str = "sender"  # the recorder whose /send and /forward put events into the platform
    # Brokers given a Trigger since their last barrier: a Broker may learn of a Ready Trigger later (Knative's
    # filter watches Triggers on its own), so the next event sent waits until the Broker routes to them all
    unsettled: set[str] = field(default_factory=set)

    # Objects -----------------------------------------------------------------------------------------

    def broker_url(self, name: str | None = None) -> str:
        found = self.target.wait_for(*BROKER, name or self.broker, self.namespace, timeout=60)
        return found["status"]["address"]["url"]

    def trigger(self, name: str, path: str, *, sink: str = "sink", filters: list | None = None,
                attributes: dict | None = None, delivery: dict | None = None, broker: str | None = None,
                wait: bool = True) -> dict:
        spec: dict = {"broker": broker or self.broker, "subscriber": sink_ref(sink, self.namespace, path)}
        if filters is not None:
            spec["filters"] = filters
        if attributes is not None:
            spec["filter"] = {"attributes": attributes}
        if delivery:
            spec["delivery"] = delivery
        self.target.create({"apiVersion": TRIGGER[0], "kind": TRIGGER[1],
                            "metadata": {"name": name, "namespace": self.namespace}, "spec": spec})
        self.unsettled.add(spec["broker"])
        if not wait:
            return self.target.get(*TRIGGER, name, self.namespace) or {}
        return self.target.wait_for(*TRIGGER, name, self.namespace, timeout=60)

    def barrier(self) -> None:
        """Returns once each Broker given a Trigger since its last barrier routes to all of them."""
        while self.unsettled:
            self._settle(self.unsettled.pop())

    def _settle(self, broker: str) -> None:
        """A probe Trigger made after the others (a Broker learns Triggers in the order they were made) delivers
        a probe event to the sender; it stays until the test's Triggers go. A Broker not made (yet) is left."""
        if self.target.get(*BROKER, broker, self.namespace) is None:
            return
        probe = f"barrier-{uuid.uuid4().hex[:8]}"
        self.trigger(probe, f"/{probe}", sink=self.sender, broker=broker,
                     filters=[{"exact": {"type": f"kproof.{probe}"}}])
        self.unsettled.discard(broker)
        url = self.broker_url(broker)

        def delivered() -> bool:
            if self.records(self.sender, f"/{probe}"):
                return True
            if self._send(event(f"kproof.{probe}"), url, "binary")["status"] in (401, 403):
                return True  # the Broker takes events only from senders an EventPolicy allows: nothing to probe
            return bool(self.records(self.sender, f"/{probe}"))

        eventually(delivered, 90, f"Broker {broker} delivers to its newest Trigger {probe}", interval=1.0)

    def delete_triggers(self) -> None:
        """Deletes the Triggers the tests made (not those a RequestReply or another object owns and would
        make again), one at a time, each until it is gone and so is the Subscription it owned: a channel-based
        Broker keeps sending to a Trigger's Subscription while it is there, and its filter refuses those
        events (404) once the Trigger is gone, which the channel retries with the Broker's back-off, holding
        up every event sent meanwhile. One at a time, because Knative's Subscription reconciler removes a
        subscriber by merge-patching the channel's whole list from its cache: two finalized at once can put
        back the other's entry, and the channel then sends to a deleted Trigger for good."""
        made = [(t["metadata"]["uid"], t["metadata"]["name"]) for t in self.target.list(*TRIGGER, self.namespace)
                if not t["metadata"].get("ownerReferences")]
        self.unsettled.clear()
        for uid, name in made:
            self.target.delete(*TRIGGER, name, self.namespace, wait=False)

            def gone(uid: str = uid) -> bool:
                left = {t["metadata"]["uid"] for t in self.target.list(*TRIGGER, self.namespace)}
                owners = {o.get("uid") for s in self.target.list(*SUBSCRIPTION, self.namespace)
                          for o in s["metadata"].get("ownerReferences") or []}
                return uid not in left | owners

            eventually(gone, 60, f"Trigger {name} and its Subscription gone", interval=0.2)

    # Traffic -----------------------------------------------------------------------------------------

    def send(self, body: dict, url: str | None = None, mode: str = "binary") -> dict:
        """Sends an event from inside the platform (the sender's /send), once the Brokers route to every
        Trigger made so far; the answer it got."""
        self.barrier()
        return self._send(body, url or self.broker_url(), mode)

    def _send(self, body: dict, url: str, mode: str) -> dict:
        response = self.target.http(self.sender, "/send", method="POST", namespace=self.namespace,
                                    json={"url": url, "event": body, "mode": mode})
        assert response.status_code == 200, response.text
        return response.json()

    def forward(self, url: str | None = None, **request: object) -> dict:
        """A raw request from inside the platform (the sender's /forward): method, headers, body, size; once
        the Brokers route to every Trigger made so far."""
        self.barrier()
        response = self.target.http(self.sender, "/forward", method="POST", namespace=self.namespace,
                                    json={"url": url or self.broker_url(), **request})
        assert response.status_code == 200, response.text
        return response.json()

    def configure(self, recorder: str, **behaviour: object) -> None:
        """Sets a recorder's behaviour (unset keys go back to normal) and forgets what it recorded."""
        normal = {"fail_rate": 0, "fail_status": 503, "fail_first": 0, "refuse_every": 0, "refuse_times": 0,
                  "refuse_prefix": "", "delay_ms": 0, "status": 200, "reply": None}
        response = self.target.http(recorder, "/config", method="POST", namespace=self.namespace,
                                    json={**normal, **behaviour})
        assert response.status_code == 200, response.text
        self.target.http(recorder, "/events", method="DELETE", namespace=self.namespace)

    def records(self, recorder: str, path: str | None = None) -> list[dict]:
        response = self.target.http(recorder, "/events", namespace=self.namespace)
        assert response.status_code == 200, response.text
        return [r for r in response.json() if path is None or r["path"].split("?")[0] == path]

    def await_records(self, recorder: str, count: int, path: str | None = None,
                      timeout: float = DELIVERY_TIMEOUT) -> list[dict]:
        """Waits until `recorder` has at least `count` requests (at `path`); returns them all."""
        eventually(lambda: len(self.records(recorder, path)) >= count, timeout,
                   f"{count} request(s) recorded by {recorder} at {path or 'any path'}")
        return self.records(recorder, path)

    def settled(self, recorder: str, path: str | None = None, quiet: float = 2.0,
                timeout: float = DELIVERY_TIMEOUT) -> list[dict]:
        """The recorder's requests once none has arrived for `quiet` seconds (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = len(self.records(recorder, path))
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.2)
        return self.records(recorder, path)


def ids(records: list[dict]) -> list[str]:
    return [r["event"]["id"] for r in records if r.get("event")]


def start_bench(target: Target, image: str) -> Bench:
    """A namespace with the recorders and a Ready Broker named default."""
    namespace = f"kproof-ev-{uuid.uuid4().hex[:8]}"
    target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    manifests = [service(name, namespace, image, annotations=PINNED) for name in RECORDERS]
    for manifest in manifests:
        target.apply(manifest)
    target.apply(broker_manifest("default", namespace))
    for manifest in manifests:
        deploy(target, manifest)
    target.wait_for(*BROKER, "default", namespace, timeout=60)
    return Bench(target, namespace)


def require_eventing(target: Target) -> None:
    try:
        target.resource(*BROKER)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve eventing.knative.dev/v1 (Knative Eventing is not installed)")
