"""What a replica gets: env from values, config maps and secrets; volumes at their mountPath; a new
replica when one is deleted; request logs when config-observability asks for them."""

from __future__ import annotations

import json

import pytest

from conformance.api.test_kubectl import kubectl
from conformance.helpers import eventually, restoring_config
from conformance.serving.support import deploy, service
from kproof.target import VOLUMES, Target, pod_is_ready


def _settings(target: Target, namespace: str) -> None:
    target.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
                   "data": {"mode": "fast", "model.json": '{"layers": 3}'}})
    target.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys", "namespace": namespace},
                   "stringData": {"token": "s3cret"}})


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md, EnvVar, "
                  "EnvVarSource and EnvFromSource: values, configMapKeyRef and secretKeyRef")
def test_env_from_values_config_maps_and_secrets(target: Target, namespace: str, app_image) -> None:
    _settings(target, namespace)
    manifest = service("envs", namespace, app_image("autoscale"))
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "PLAIN", "value": "value"},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "token"}}},
    ]
    deploy(target, manifest)
    env = target.http("envs", "/runtime", namespace=namespace).json()["env"]
    assert (env["PLAIN"], env["MODE"], env["TOKEN"]) == ("value", "fast", "s3cret")


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md, Volume: "
                  "configMap and secret volumes at their mountPath; emptyDir (kubernetes.podspec-emptydir, on by "
                  "default)")
@pytest.mark.requires(VOLUMES)
def test_volumes_from_config_maps_secrets_and_empty_dirs(target: Target, namespace: str, app_image) -> None:
    _settings(target, namespace)
    manifest = service("mounts", namespace, app_image("autoscale"))
    manifest["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "config", "mountPath": "/etc/model"}, {"name": "secret", "mountPath": "/var/run/keys"},
        {"name": "scratch", "mountPath": "/scratch"}]
    manifest["spec"]["template"]["spec"]["volumes"] = [
        {"name": "config", "configMap": {"name": "settings"}},
        {"name": "secret", "secret": {"secretName": "keys"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    deploy(target, manifest)
    seen = target.http("mounts", "/runtime?file=/etc/model/model.json&file=/var/run/keys/token",
                       namespace=namespace).json()
    assert json.loads(seen["files"]["/etc/model/model.json"]) == {"layers": 3}
    assert seen["files"]["/var/run/keys/token"] == "s3cret"
    assert {"/etc/model", "/var/run/keys", "/scratch"} <= set(seen["mounts"])


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes ReplicaSet semantics: a deleted Pod of a Revision is "
                  "replaced")
def test_a_deleted_replica_is_replaced(target: Target, namespace: str, app_image) -> None:
    deploy(target, service("phoenix", namespace, app_image("helloworld")))
    selector = "serving.knative.dev/service=phoenix"
    first = target.list("v1", "Pod", namespace, label_selector=selector)[0]["metadata"]["name"]
    target.delete("v1", "Pod", first, namespace, timeout=120)

    def replaced() -> bool:
        pods = target.list("v1", "Pod", namespace, label_selector=selector)
        return any(p["metadata"]["name"] != first and pod_is_ready(p) for p in pods)

    eventually(replaced, 120, "replaced by a new ready replica")
    assert target.http("phoenix", "/", namespace=namespace).status_code == 200


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/observability: config-observability's "
                  "logging.enable-request-log and logging.request-log-template")
def test_request_logs_follow_config_observability(target: Target, namespace: str, app_image) -> None:
    template = ('{"method": "{{.Request.Method}}", "uri": "{{js .Request.RequestURI}}", "status": {{.Response.Code}}, '
                '"revision": "{{.Revision.Name}}", "trace": "{{index .Request.Header "X-Kproof-Trace"}}"}')
    with restoring_config(target, "knative-serving", "config-observability"):
        target.patch("v1", "ConfigMap", "config-observability", {"data": {
            "logging.enable-request-log": "true", "logging.request-log-template": template}}, "knative-serving")
        deploy(target, service("logged", namespace, app_image("helloworld")))
        pod = target.list("v1", "Pod", namespace, label_selector="serving.knative.dev/service=logged")[0]
        name = pod["metadata"]["name"]

        def logged() -> dict | None:
            target.http("logged", "/some/path?x=1", namespace=namespace, headers={"X-Kproof-Trace": "t-42"})
            lines = kubectl(target, "logs", "-n", namespace, name, "-c", "queue-proxy", check=False).stdout
            records = [json.loads(line) for line in lines.splitlines() if line.startswith("{")]
            # queue-proxy's own log lines are JSON too: only request records carry the template's uri
            return next((r for r in records if r.get("uri") == "/some/path?x=1"), None)

        record = eventually(logged, 60, "logged by the request log")
        assert record == {"method": "GET", "uri": "/some/path?x=1", "status": 200, "revision": "logged-00001",
                          "trace": "[t-42]"}


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/using-a-custom-domain: config-domain changes the "
                  "Routes' host names")
def test_config_domain_changes_reroute(target: Target, namespace: str, app_image) -> None:
    deploy(target, service("domains", namespace, app_image("helloworld"),
                           annotations={"autoscaling.knative.dev/min-scale": "1"}))
    selector = f"selector:\n  kproof.dev/domain-test: {namespace}\n"
    with restoring_config(target, "knative-serving", "config-domain"):
        target.patch("v1", "ConfigMap", "config-domain", {"data": {"kproof-test.example": selector}},
                     "knative-serving")
        target.patch("serving.knative.dev/v1", "Service", "domains",
                     {"metadata": {"labels": {"kproof.dev/domain-test": namespace}}}, namespace)
        host = f"domains.{namespace}.kproof-test.example"

        def moved(obj: dict | None) -> bool:
            return ((obj or {}).get("status") or {}).get("url") == f"http://{host}"

        target.wait_until("serving.knative.dev/v1", "Service", "domains", moved, namespace, 120, what="re-routed")
        eventually(lambda: target.http("domains", "/", namespace=namespace, host=host).status_code == 200, 60,
                   "answering on the new domain")
