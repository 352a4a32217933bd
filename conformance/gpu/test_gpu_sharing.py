"""Seed 004's GPU sharing by memory (aliyun.com/gpu-mem, ACK's gpushare): replicas pack onto one GPU
before the next is used, each sees its share, and a share bigger than any GPU stays Pending."""

from __future__ import annotations

from collections import Counter

import pytest

from conformance.gpu.support import (
    GPU_MEM,
    GPU_MEM_INDEX,
    SharedGpus,
    revision_condition,
    seed_manifest,
    service_pods,
    shared_gpu_nodes,
    unschedulable,
)
from conformance.helpers import eventually
from conformance.serving.support import deploy, service
from kproof.target import GPU, Target

pytestmark = pytest.mark.requires(GPU)  # the whole area; conftest.py waits for free GPUs

SEED = "seed-004/helloworld-go-gpu-sharing.yaml"
SHARE = 3  # GiB, as the seed asks


def _sharing_node(target: Target) -> SharedGpus:
    nodes = [n for n in shared_gpu_nodes(target) if n.count >= 2 and n.memory_each >= SHARE]
    if not nodes:
        pytest.skip("needs a node sharing two or more GPUs by memory (aliyun.com/gpu-mem), with none in use")
    return nodes[0]


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): GPU "
                  "sharing by memory (aliyun.com/gpu-mem)")
def test_seed_replicas_pack_one_gpu_before_the_next(target: Target, namespace: str) -> None:
    node = _sharing_node(target)
    per_gpu = int(node.memory_each) // SHARE
    replicas = per_gpu + 1  # one more than a GPU holds
    manifest = seed_manifest(SEED, namespace, {"autoscaling.knative.dev/min-scale": str(replicas)})
    deploy(target, manifest)
    assert target.http("helloworld-go", "/", namespace=namespace).text == "Hello World!\n"
    pods = service_pods(target, namespace, "helloworld-go")
    placed = Counter((p["spec"]["nodeName"], p["metadata"]["annotations"][GPU_MEM_INDEX]) for p in pods)
    assert sorted(placed.values(), reverse=True) == [per_gpu, 1], placed


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): GPU "
                  "sharing, each replica is limited to its aliyun.com/gpu-mem")
def test_a_replica_sees_its_share(target: Target, namespace: str, app_image) -> None:
    node = _sharing_node(target)
    deploy(target, service("share", namespace, app_image("autoscale"), resources={"limits": {GPU_MEM: str(SHARE)}}))
    env = target.http("share", "/runtime", namespace=namespace).json()["env"]
    pod = service_pods(target, namespace, "share")[0]
    annotations = pod["metadata"]["annotations"]
    assert env["ALIYUN_COM_GPU_MEM_CONTAINER"] == str(SHARE) == annotations["ALIYUN_COM_GPU_MEM_POD"]
    assert env["ALIYUN_COM_GPU_MEM_DEV"] == str(int(node.memory_each)) == annotations["ALIYUN_COM_GPU_MEM_DEV"]
    assert env["ALIYUN_COM_GPU_MEM_IDX"] == env["NVIDIA_VISIBLE_DEVICES"] == annotations[GPU_MEM_INDEX]
    eventually(lambda: service_pods(target, namespace, "share")[0]["metadata"]["annotations"].get(
        "ALIYUN_COM_GPU_MEM_ASSIGNED") == "true", 30, "marked assigned by the device plugin")


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): GPU "
                  "sharing; Kubernetes: a Pod no node fits stays Pending")
def test_a_share_bigger_than_any_gpu_stays_pending(target: Target, namespace: str, app_image) -> None:
    node = _sharing_node(target)
    too_big = str(int(node.memory_each) + 1)  # fits the node's total, but no single GPU
    target.apply(service("big", namespace, app_image("autoscale"), resources={"limits": {GPU_MEM: too_big}}))
    waiting = eventually(lambda: [unschedulable(p) for p in service_pods(target, namespace, "big")
                                  if unschedulable(p)], 60, "its Pod Pending")
    assert waiting[0]["reason"] == "Unschedulable"
    assert "Insufficient GPU Memory in one device" in waiting[0]["message"], waiting[0]["message"]
    eventually(lambda: revision_condition(target, namespace, "big-00001", "Ready").get("reason") == "Unschedulable",
               60, "the revision not Ready, for the same reason")
