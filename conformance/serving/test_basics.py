"""A Service becomes Ready with a URL and answers; updates roll out new revisions; traffic splits and tags.

Modelled on Knative's test/conformance/api/v1.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pytest

from conformance.serving.support import KSVC, deploy, service, wait_for_revision
from kproof.target import Target


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#service: \"When a "
                  "Service is created, it MUST create and own a Configuration and Route\"; \"Conditions of type "
                  "Ready MUST be present\"")
@pytest.mark.quick
def test_service_becomes_ready_and_answers(target: Target, namespace: str, app_image) -> None:
    ready = deploy(target, service("hello", namespace, app_image("helloworld"), env={"TARGET": "kproof"}))
    status = ready["status"]
    assert urlsplit(status["url"]).hostname.startswith(f"hello.{namespace}.")
    assert status["latestCreatedRevisionName"] == status["latestReadyRevisionName"] == "hello-00001"
    assert status["traffic"] == [{"revisionName": "hello-00001", "latestRevision": True, "percent": 100}]
    assert {c["type"] for c in status["conditions"]} >= {"Ready", "ConfigurationsReady", "RoutesReady"}
    response = target.http("hello", "/", namespace=namespace)
    assert response.status_code == 200 and response.text == "Hello kproof!\n"
    for kind in ("Configuration", "Route"):
        child = target.get("serving.knative.dev/v1", kind, "hello", namespace)
        assert child is not None and child["metadata"]["labels"]["serving.knative.dev/service"] == "hello"
    revision = target.get("serving.knative.dev/v1", "Revision", "hello-00001", namespace)
    assert revision["metadata"]["labels"]["serving.knative.dev/configuration"] == "hello"


@pytest.mark.spec("SHOULD", "stable", source="knative/specs serving/runtime-contract.md: PORT \"MUST be set\", "
                  "K_SERVICE, K_CONFIGURATION and K_REVISION \"SHOULD be set\"; Host MUST and trace headers SHOULD "
                  "reach the container")
def test_runtime_contract(target: Target, namespace: str, app_image) -> None:
    deploy(target, service("contract", namespace, app_image("autoscale")))
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    seen = target.http("contract", "/runtime", namespace=namespace, headers={"traceparent": trace}).json()
    env, headers = seen["env"], {k.lower(): v for k, v in seen["headers"].items()}
    assert env["PORT"].isdigit()
    assert (env["K_SERVICE"], env["K_CONFIGURATION"], env["K_REVISION"]) == ("contract", "contract",
                                                                             "contract-00001")
    assert headers["host"] == target.service_host("contract", namespace)
    assert headers["traceparent"] == trace
    assert headers.get("x-forwarded-proto") in ("http", "https")
    assert "x-forwarded-for" in headers
    assert "forwarded" in headers or "x-forwarded-for" in headers


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#configuration: "
                  "\"When a Configuration is created or its spec updated ... a new Revision MUST be created\"")
def test_update_rolls_out_a_new_revision(target: Target, namespace: str, app_image) -> None:
    deploy(target, service("rollout", namespace, app_image("helloworld"), env={"TARGET": "one"}))
    assert target.http("rollout", "/", namespace=namespace).text == "Hello one!\n"
    target.apply(service("rollout", namespace, app_image("helloworld"), env={"TARGET": "two"}))
    ready = wait_for_revision(target, "rollout", namespace, "rollout-00002")
    assert ready["status"]["latestCreatedRevisionName"] == "rollout-00002"
    assert target.http("rollout", "/", namespace=namespace).text == "Hello two!\n"


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#configuration: "
                  "the Revision is named by spec.template.metadata.name when given, else \"it MUST be system "
                  "generated\"")
def test_bring_your_own_revision_name(target: Target, namespace: str, app_image) -> None:
    deploy(target, service("byo", namespace, app_image("helloworld"), revision_name="byo-blue",
                           env={"TARGET": "blue"}))
    assert target.get("serving.knative.dev/v1", "Revision", "byo-blue", namespace) is not None
    target.apply(service("byo", namespace, app_image("helloworld"), revision_name="byo-green",
                         env={"TARGET": "green"}))
    wait_for_revision(target, "byo", namespace, "byo-green")
    assert target.http("byo", "/", namespace=namespace).text == "Hello green!\n"


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#request-routing: "
                  "\"Requests to a specific Host MUST be dispatched to Revision instances in accordance with the "
                  "weights\"; a tag's \"dedicated URL MUST include in it the string provided by tag\"")
def test_blue_green_split_and_tags(target: Target, namespace: str, app_image) -> None:
    image = app_image("helloworld")
    deploy(target, service("split", namespace, image, revision_name="split-blue", env={"TARGET": "blue"}))
    target.apply(service("split", namespace, image, revision_name="split-green", env={"TARGET": "green"},
                         traffic=[{"revisionName": "split-blue", "percent": 50, "tag": "blue"},
                                  {"revisionName": "split-green", "percent": 50, "tag": "green"}]))
    ready = wait_for_revision(target, "split", namespace, "split-green")
    target.wait_until(*KSVC, "split", lambda o: len((o or {}).get("status", {}).get("traffic") or []) == 2,
                      namespace, 60, what="split in two")
    answers = Counter(target.http("split", "/", namespace=namespace).text for _ in range(200))
    assert set(answers) == {"Hello blue!\n", "Hello green!\n"}
    assert min(answers.values()) >= 50, f"each side gets at least 25% of 200 requests: {answers}"
    ready = target.get(*KSVC, "split", namespace)
    tags = {t["tag"]: t["url"] for t in ready["status"]["traffic"] if t.get("tag")}
    assert set(tags) == {"blue", "green"}
    for tag, url in tags.items():
        host = urlsplit(url).hostname
        assert host.startswith(f"{tag}-split.{namespace}.")
        for _ in range(5):
            assert target.http("split", "/", namespace=namespace, host=host).text == f"Hello {tag}!\n"
