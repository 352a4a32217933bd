"""Channels and Subscriptions: a Channel backed by an InMemoryChannel, fan-out to every subscriber,
replies to a subscription's reply destination, statuses, and seed 003's Channel + Subscription."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conformance.api.test_kubectl import kubectl
from conformance.eventing.support import CHANNEL, IMC, SUBSCRIPTION, Bench, event, ids, sink_ref
from conformance.helpers import unique
from conformance.serving.support import deploy, service
from kproof.target import condition_status

SEED_003 = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "seed-003"


def channel(name: str, namespace: str) -> dict:
    return {"apiVersion": CHANNEL[0], "kind": CHANNEL[1], "metadata": {"name": name, "namespace": namespace}}


def subscription(name: str, namespace: str, channel_name: str, subscriber: dict, reply: dict | None = None,
                 delivery: dict | None = None) -> dict:
    spec: dict = {"channel": {"apiVersion": CHANNEL[0], "kind": CHANNEL[1], "name": channel_name},
                  "subscriber": subscriber}
    if reply:
        spec["reply"] = reply
    if delivery:
        spec["delivery"] = delivery
    return {"apiVersion": SUBSCRIPTION[0], "kind": SUBSCRIPTION[1], "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


@pytest.mark.spec("SHOULD", "stable", source="knative/specs eventing/control-plane.md#topology-based-routing: \"each "
                  "Subscription MUST generate one delivery attempt per Subscription\"; the InMemoryChannel as the "
                  "default channel (Knative's default-ch-webhook)")
def test_a_channel_defaults_to_an_in_memory_channel_and_fans_out_to_three_subscribers(bench: Bench) -> None:
    name = unique("fanout")
    created = bench.target.create(channel(name, bench.namespace))
    assert created["spec"]["channelTemplate"]["kind"] == "InMemoryChannel", "defaulted from default-ch-webhook"
    ready = bench.target.wait_for(*CHANNEL, name, bench.namespace, timeout=60)
    assert ready["status"]["address"]["url"]
    backing = bench.target.get(*IMC, name, bench.namespace)
    assert backing is not None and backing["status"]["address"]["url"] == ready["status"]["address"]["url"]
    for i in (1, 2, 3):
        bench.target.create(subscription(f"{name}-s{i}", bench.namespace, name,
                                         sink_ref("sink", bench.namespace, f"/{name}-{i}")))
    for i in (1, 2, 3):
        found = bench.target.wait_for(*SUBSCRIPTION, f"{name}-s{i}", bench.namespace, timeout=60)
        assert found["status"]["physicalSubscription"]["subscriberUri"].endswith(f"/{name}-{i}")
    sent = event("kproof.fanout")
    assert bench.send(sent, url=ready["status"]["address"]["url"])["status"] in (200, 202)
    for i in (1, 2, 3):
        assert ids(bench.await_records("sink", 1, f"/{name}-{i}")) == [sent["id"]]
    listed = bench.target.get(*CHANNEL, name, bench.namespace)["status"].get("subscribers") or []
    assert len(listed) == 3, "the channel lists its subscribers in its status"


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#event-delivery: \"the reply "
                  "event MUST be delivered to the spec.reply destination\"")
def test_a_subscription_sends_replies_to_its_reply_destination(bench: Bench) -> None:
    name = unique("reply")
    bench.configure("replier", reply={"type": "kproof.channel.reply", "source": "/replier"})
    bench.target.create(channel(name, bench.namespace))
    bench.target.create(subscription(name, bench.namespace, name, sink_ref("replier", bench.namespace, f"/{name}"),
                                     reply=sink_ref("sink", bench.namespace, f"/{name}-reply")))
    bench.target.wait_for(*SUBSCRIPTION, name, bench.namespace, timeout=60)
    url = bench.target.wait_for(*CHANNEL, name, bench.namespace, timeout=60)["status"]["address"]["url"]
    bench.send(event("kproof.channel.request"), url=url)
    (reply,) = bench.await_records("sink", 1, f"/{name}-reply")
    assert reply["event"]["type"] == "kproof.channel.reply"


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#subscription-lifecycle: \"the "
                  "Subscription MUST set the Ready condition to false, and at least one condition MUST indicate the "
                  "reason for the error\"")
def test_a_subscription_to_a_missing_subscriber_is_not_ready(bench: Bench) -> None:
    name = unique("missing")
    bench.target.create(channel(name, bench.namespace))
    bench.target.create(subscription(name, bench.namespace, name, sink_ref("nobody", bench.namespace)))
    found = bench.target.wait_until(*SUBSCRIPTION, name, lambda s: condition_status(s or {}, "Ready") == "False",
                                    bench.namespace, 30, what="Ready=False")
    assert condition_status(found, "Ready") == "False"


@pytest.mark.spec("SHOULD", "stable", source="seed 003 (Deep Learning Inference Through Knative, Ceph RGW PubSub): "
                  "ContainerSource -> Channel -> Subscription to the classifier Service")
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_seed_003_channel_and_subscription(bench: Bench, app_image: Callable[[str], str]) -> None:
    """Seed 003's YAML (moved to today's API versions) applied with kubectl; its subscriber, the
    rgwpubsub-svc Service, is a recorder here."""
    deploy(bench.target, service("rgwpubsub-svc", bench.namespace, app_image("recorder"),
                                 annotations={"autoscaling.knative.dev/min-scale": "1"}))
    docs = list(yaml.safe_load_all((SEED_003 / "channel-subscription.yaml").read_text()))
    for doc in docs:
        doc["metadata"]["namespace"] = bench.namespace
    kubectl(bench.target, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    bench.target.wait_for(*SUBSCRIPTION, "rgw-ps-subscription", bench.namespace, timeout=60)
    url = bench.target.wait_for(*CHANNEL, "rgw-ps-channel", bench.namespace, timeout=60)["status"]["address"]["url"]
    sent = event("kproof.rgw.object.created")
    bench.send(sent, url=url)
    bench.await_records("rgwpubsub-svc", 1)
    assert ids(bench.records("rgwpubsub-svc")) == [sent["id"]]
    listed = kubectl(bench.target, "get", "channels.messaging.knative.dev,subscriptions", "-n", bench.namespace)
    assert "rgw-ps-channel" in listed.stdout and "rgw-ps-subscription" in listed.stdout
