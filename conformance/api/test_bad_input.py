"""Bad input costs a 4xx that names the problem, never a 5xx, and nothing is stored or deleted.

Only what Kubernetes and Knative refuse themselves is checked here (a Pod's volume paths, names, labels,
annotation and data sizes, numbers Go cannot parse, request options); where a cluster says 422 and the
reference 400 (option values), either passes.
"""

from __future__ import annotations

import json

import pytest
import requests

from conformance.api.manifests import IMAGE, service
from kproof.target import Target

PATCH_SMP = {"Content-Type": "application/strategic-merge-patch+json"}


def _status(response: requests.Response) -> dict:
    try:
        return response.json()
    except ValueError:
        return {"message": response.text}


def _assert_refused(response: requests.Response, field: str | tuple[str, ...] | None = None,
                    codes: tuple[int, ...] = (400, 422)) -> dict:
    """`field`: the field the refusal names, or the names it may use for it."""
    status = _status(response)
    assert response.status_code in codes, f"expected {codes}, got {response.status_code}: {status}"
    if field and response.status_code == 422:
        causes = [c.get("field", "") for c in status.get("details", {}).get("causes", [])]
        names = (field,) if isinstance(field, str) else field
        assert any(name in causes or name in status.get("message", "") for name in names), \
            f"{field!r} not named in {status}"
    return status


def _post(target: Target, path: str, body: object, **kwargs: object) -> requests.Response:
    return target.raw("POST", path, data=json.dumps(body), headers={"Content-Type": "application/json"}, **kwargs)


def _configmaps(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


SUB_PATH = ("spec.containers[0].volumeMounts[0].subPath", "spec.containers[0].volumeMounts.subPath")


@pytest.mark.spec("MUST", "stable", source="Kubernetes API reference, KeyToPath.path and VolumeMount.subPath: \"May "
                  "not be an absolute path. May not contain the path element '..'\"")
@pytest.mark.parametrize(("mount", "items_path", "field"), [
    # Kubernetes' own validation names the mount without its index
    ({"subPath": "../../etc"}, "k", SUB_PATH),
    ({"subPath": "/etc"}, "k", SUB_PATH),
    ({}, "../k", "spec.volumes[0].configMap.items[0].path"),
    ({}, "/k", "spec.volumes[0].configMap.items[0].path"),
])
def test_a_pod_cannot_reach_outside_its_volumes(target: Target, namespace: str, mount: dict, items_path: str,
                                                field: str | tuple[str, ...]) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "escape", "namespace": namespace}, "spec": {
        "containers": [{"name": "c", "image": IMAGE, "volumeMounts": [{"name": "v", "mountPath": "/v", **mount}]}],
        "volumes": [{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "k", "path": items_path}]}}]}}
    _assert_refused(_post(target, f"/api/v1/namespaces/{namespace}/pods", pod), field, (422,))
    assert target.get("v1", "Pod", "escape", namespace) is None


@pytest.mark.spec("MUST", "stable", source="Kubernetes object names "
                  "(kubernetes.io/docs/concepts/overview/working-with-objects/names): \"contain no more than 253 "
                  "characters\", \"contain only lowercase alphanumeric characters, '-' or '.'\"")
@pytest.mark.parametrize("name", ["abc\n", "Upper", "a" * 254])
def test_a_name_must_match_in_full(target: Target, namespace: str, name: str) -> None:
    _assert_refused(_post(target, _configmaps(namespace), {"metadata": {"name": name}}), "metadata.name", (422,))


@pytest.mark.spec("MUST", "stable", source="Kubernetes API reference, ObjectMeta.name: a string; a body that does "
                  "not decode is refused with 400")
@pytest.mark.parametrize("name", [5, ["a"], {"a": "b"}])
def test_a_name_that_is_not_a_string_is_refused(target: Target, namespace: str, name: object) -> None:
    _assert_refused(_post(target, _configmaps(namespace), {"metadata": {"name": name}}), "metadata.name")


@pytest.mark.spec("MUST", "stable", source="Kubernetes labels "
                  "(kubernetes.io/docs/concepts/overview/working-with-objects/labels): \"Valid label keys have two "
                  "segments\", values \"must be 63 characters or less\"")
@pytest.mark.parametrize("labels", [{"a b": "x"}, {"app": "x" * 64}, {"app": "a b"}, {"a/b/c": "x"},
                                    {"Example.com/a": "x"}, {"app": "x\n"}])
def test_labels_are_validated(target: Target, namespace: str, labels: dict) -> None:
    response = _post(target, _configmaps(namespace), {"metadata": {"name": "labelled", "labels": labels}})
    _assert_refused(response, "metadata.labels", (422,))
    assert target.get("v1", "ConfigMap", "labelled", namespace) is None


@pytest.mark.spec("MUST", "stable", source="Kubernetes API validation (apimachinery ValidateAnnotations): the total "
                  "size of annotations must be less than 256 KiB")
def test_annotations_are_at_most_256_kib(target: Target, namespace: str) -> None:
    body = {"metadata": {"name": "noted", "annotations": {"a": "x" * 262_144}}}
    status = _assert_refused(_post(target, _configmaps(namespace), body), "metadata.annotations", (422,))
    assert "262144" in status["message"]
    assert target.get("v1", "ConfigMap", "noted", namespace) is None


@pytest.mark.spec("MUST", "stable", source="Kubernetes ConfigMaps "
                  "(kubernetes.io/docs/concepts/configuration/configmap): \"The data stored in a ConfigMap cannot "
                  "exceed 1 MiB\"")
def test_config_map_data_is_at_most_1_mib(target: Target, namespace: str) -> None:
    body = {"metadata": {"name": "big"}, "data": {"a": "x" * (1024 * 1024 + 1)}}  # 1 MiB is allowed
    status = _assert_refused(_post(target, _configmaps(namespace), body), codes=(422,))
    assert "1048576" in status["message"]
    assert target.get("v1", "ConfigMap", "big", namespace) is None


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes apiserver's request body limit (k8s.io/apiserver "
                  "MaxRequestBodyBytes, 3 MiB): a bigger body is refused with 413")
def test_a_body_over_3_mib_is_413(target: Target, namespace: str) -> None:
    body = {"metadata": {"name": "huge"}, "data": {"a": "x" * (3 * 1024 * 1024 + 1)}}
    _assert_refused(_post(target, _configmaps(namespace), body), codes=(413,))
    assert target.get("v1", "ConfigMap", "huge", namespace) is None


@pytest.mark.spec("SHOULD", "stable", source="knative/serving pkg/apis/autoscaling annotation validation: min-scale, "
                  "max-scale and the like are read with Go's strconv")
@pytest.mark.parametrize(("key", "value"), [
    ("min-scale", " 5 "), ("min-scale", "\uff15"), ("max-scale", "1 0"), ("initial-scale", "\uff11"),
    ("window", " 60s"), ("window", "\uff16\uff10s"),
])
def test_autoscaling_numbers_are_parsed_as_go_parses_them(target: Target, namespace: str, key: str,
                                                          value: str) -> None:
    manifest = service("numbers", namespace, {f"autoscaling.knative.dev/{key}": value})
    response = _post(target, f"/apis/serving.knative.dev/v1/namespaces/{namespace}/services", manifest)
    status = _assert_refused(response)
    assert f"autoscaling.knative.dev/{key}" in status["message"]
    assert target.get("serving.knative.dev/v1", "Service", "numbers", namespace) is None


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts), dry-run: \"dryRun ... All\" is the only "
                  "value; other values are refused")
def test_dry_run_other_than_all_is_refused_and_writes_nothing(target: Target, namespace: str) -> None:
    response = _post(target, _configmaps(namespace), {"metadata": {"name": "dry"}}, params={"dryRun": "bogus"})
    assert "dryRun" in _assert_refused(response)["message"]
    assert target.get("v1", "ConfigMap", "dry", namespace) is None


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): DeleteOptions (preconditions, "
                  "propagationPolicy) that do not hold refuse the delete")
@pytest.mark.parametrize(("params", "body"), [
    ({}, {"preconditions": "x"}),
    ({}, {"gracePeriodSeconds": "soon"}),
    ({"gracePeriodSeconds": "abc"}, None),
    ({"propagationPolicy": "Sideways"}, None),
])
def test_bad_delete_options_are_refused_and_delete_nothing(target: Target, namespace: str, params: dict,
                                                           body: object) -> None:
    _post(target, _configmaps(namespace), {"metadata": {"name": "keep"}})
    response = target.raw("DELETE", f"{_configmaps(namespace)}/keep", params=params,
                          data=None if body is None else json.dumps(body),
                          headers={"Content-Type": "application/json"})
    _assert_refused(response)
    assert target.get("v1", "ConfigMap", "keep", namespace) is not None


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): list and watch parameters; a value the "
                  "server cannot read is a 400, never a 500")
@pytest.mark.parametrize("params", [{"timeoutSeconds": "abc"}, {"timeoutSeconds": "1e400"}, {"limit": "many"}])
def test_bad_list_and_watch_parameters_are_400(target: Target, namespace: str, params: dict) -> None:
    for watch in ({}, {"watch": "true"}):
        _assert_refused(target.raw("GET", _configmaps(namespace), params={**params, **watch}, timeout=10),
                        codes=(400,))


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes strategic merge patch ($retainKeys directive): a malformed "
                  "patch is a 400")
def test_a_malformed_retain_keys_directive_is_400(target: Target, namespace: str) -> None:
    _post(target, _configmaps(namespace), {"metadata": {"name": "patched"}, "data": {"a": "b"}})
    response = target.raw("PATCH", f"{_configmaps(namespace)}/patched", data=json.dumps({"$retainKeys": 5}),
                          headers=PATCH_SMP)
    _assert_refused(response, codes=(400,))
