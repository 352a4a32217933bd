"""Bad input is refused with a 4xx that names the problem, as strictly as Kubernetes and Knative refuse it,
and nothing is stored: volume paths, names, labels, annotations, sizes, numbers in annotations, probes,
request bodies (nesting, YAML aliases, size) and query parameters."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from reference.apiserver.admission.numbers import parse_duration, parse_float, parse_int
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.decode import DecodeError, decode_json, decode_yaml
from reference.apiserver.registry import Registry
from reference.apiserver.server import ApiServer
from reference.apiserver.store import Store

TOKEN = "secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVICES = "/apis/serving.knative.dev/v1/namespaces/default/services"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"
PODS = "/api/v1/namespaces/default/pods"
IMAGE = "gcr.io/knative-samples/helloworld-go"
K = "autoscaling.knative.dev/"
SMP = "application/strategic-merge-patch+json"


def ksvc(name: str = "bad", annotations: dict[str, str] | None = None, **container: object) -> dict:
    template: dict = {"spec": {"containers": [{"image": IMAGE, **container}]}}
    if annotations:
        template["metadata"] = {"annotations": annotations}
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"template": template}}


def with_config_volume(service: dict, **volume: object) -> dict:
    service["spec"]["template"]["spec"]["volumes"] = [{"name": "cfg", **volume}]
    return service


def run(scenario: Callable[[TestClient], Awaitable[None]]) -> None:
    async def main() -> None:
        registry = Registry(Store())
        bootstrap(registry)
        server = ApiServer(registry, TOKEN)

        async def logs(request: web.Request, kind: object, namespace: str, name: str) -> web.Response:
            return web.Response(text="a line\n")

        server.add_subresource(registry.kinds.by_path("", "v1", "pods"), "log", logs)
        async with TestClient(TestServer(server.app())) as client:
            await scenario(client)

    asyncio.run(main())


async def refused(client: TestClient, method: str, path: str, body: object = None, *, status: int = 422,
                  params: dict | None = None, raw: bytes | None = None, content_type: str = "application/json"
                  ) -> dict:
    """Sends the request; asserts the status and returns the Status object."""
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    response = await client.request(method, path, data=data, params=params,
                                    headers={**AUTH, "Content-Type": content_type})
    text = await response.text()
    assert response.status == status, f"{method} {path} {params}: {response.status} {text[:500]}"
    return json.loads(text)


def fields(status: dict) -> list[str]:
    return [c["field"] for c in status.get("details", {}).get("causes", [])]


async def absent(client: TestClient, path: str) -> None:
    assert (await client.get(path, headers=AUTH)).status == 404, f"{path} was stored"


# 1. Volume paths -----------------------------------------------------------------------------------

MOUNT = "spec.template.spec.containers[0].volumeMounts[0].subPath"


@pytest.mark.parametrize(("sub_path", "message"), [
    ("../etc", "must not contain '..'"),
    ("a/../../etc", "must not contain '..'"),
    ("/etc", "must be a relative path"),
])
def test_a_sub_path_stays_inside_its_volume(sub_path: str, message: str) -> None:
    async def scenario(client: TestClient) -> None:
        mount = {"name": "cfg", "mountPath": "/cfg", "subPath": sub_path, "readOnly": True}
        service = with_config_volume(ksvc(volumeMounts=[mount]), configMap={"name": "c"})
        status = await refused(client, "POST", SERVICES, service)
        assert fields(status) == [MOUNT] and message in status["message"]
        await absent(client, f"{SERVICES}/bad")

    run(scenario)


def test_a_sub_path_may_hold_dots_that_are_not_a_path_element() -> None:
    async def scenario(client: TestClient) -> None:
        mount = {"name": "cfg", "mountPath": "/cfg", "subPath": "a/..b/c..", "readOnly": True}
        service = with_config_volume(ksvc(volumeMounts=[mount]), configMap={"name": "c"})
        response = await client.post(SERVICES, data=json.dumps(service), headers=AUTH)
        assert response.status == 201, await response.text()

    run(scenario)


@pytest.mark.parametrize(("volume", "field", "message"), [
    ({"configMap": {"name": "c", "items": [{"key": "k", "path": "../k"}]}}, "configMap.items[0].path",
     "must not contain '..'"),
    ({"secret": {"secretName": "s", "items": [{"key": "k", "path": "/k"}]}}, "secret.items[0].path",
     "must be a relative path"),
    ({"configMap": {"name": "c", "items": [{"key": "k", "path": "..k"}]}}, "configMap.items[0].path",
     "must not start with '..'"),
    ({"configMap": {"name": "c", "items": [{"key": "k", "path": ""}]}}, "configMap.items[0].path",
     "missing field(s)"),
    ({"projected": {"sources": [{"secret": {"name": "s", "items": [{"key": "k", "path": "a/../../k"}]}}]}},
     "projected.sources[0].secret.items[0].path", "must not contain '..'"),
    ({"projected": {"sources": [{"configMap": {"name": "c", "items": [{"key": "k", "path": ""}]}}]}},
     "projected.sources[0].configMap.items[0].path", "missing field(s)"),
])
def test_volume_item_paths_stay_inside_the_volume(volume: dict, field: str, message: str) -> None:
    async def scenario(client: TestClient) -> None:
        mount = {"name": "cfg", "mountPath": "/cfg", "readOnly": True}
        status = await refused(client, "POST", SERVICES, with_config_volume(ksvc(volumeMounts=[mount]), **volume))
        assert f"spec.template.spec.volumes[0].{field}" in fields(status)
        assert message in status["message"]
        await absent(client, f"{SERVICES}/bad")

    run(scenario)


def test_a_pod_gets_the_same_path_rules() -> None:
    async def scenario(client: TestClient) -> None:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": {
            "containers": [{"name": "c", "image": IMAGE,
                            "volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "../../.."}]}],
            "volumes": [{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "/etc/x"}]}}]}}
        status = await refused(client, "POST", PODS, pod)
        assert sorted(fields(status)) == ["spec.containers[0].volumeMounts[0].subPath",
                                          "spec.volumes[0].configMap.items[0].path"]
        await absent(client, f"{PODS}/bad")

    run(scenario)


# 2. Names, labels, annotations, data sizes ---------------------------------------------------------

@pytest.mark.parametrize("name", ["abc\n", "abc\n\n", "ABC", "a_b", "-a", "a" * 254])
def test_names_must_match_in_full(name: str) -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", CONFIGMAPS, {"metadata": {"name": name}})
        assert fields(status) == ["metadata.name"]
        assert "RFC 1123 subdomain" in status["message"]

    run(scenario)


def test_a_namespace_name_ending_in_a_newline_is_refused() -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", "/api/v1/namespaces", {"metadata": {"name": "team\n"}})
        assert fields(status) == ["metadata.name"] and "RFC 1123 label" in status["message"]

    run(scenario)


@pytest.mark.parametrize("name", [5, 1.5, True, ["a"], {"a": "b"}])
def test_a_name_that_is_not_a_string_is_422(name: object) -> None:
    async def scenario(client: TestClient) -> None:
        for path, body in ((CONFIGMAPS, {"metadata": {"name": name}}), (SERVICES, {**ksvc(), "metadata": {
                "name": name}})):
            status = await refused(client, "POST", path, body)
            assert fields(status) == ["metadata.name"]
            assert "must be of type string" in status["message"]

    run(scenario)


@pytest.mark.parametrize(("field", "value"), [
    ("generateName", 7), ("labels", {"a": 1}), ("labels", ["a"]), ("annotations", {"a": {"b": "c"}}),
    ("finalizers", "x"), ("ownerReferences", [{"uid": 5}]), ("resourceVersion", 5), ("namespace", ["x"]),
])
def test_metadata_fields_of_the_wrong_type_are_refused(field: str, value: object) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"name": "cm", field: value}}),
                                     headers=AUTH)
        assert response.status in (400, 422), await response.text()
        await absent(client, f"{CONFIGMAPS}/cm")

    run(scenario)


def test_a_generate_name_is_a_name_prefix() -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", CONFIGMAPS, {"metadata": {"generateName": "Bad_"}})
        assert fields(status) == ["metadata.generateName"]
        created = await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"generateName": "x" * 70 + "-"}}),
                                    headers=AUTH)
        assert created.status == 201
        name = (await created.json())["metadata"]["name"]
        assert len(name) == 63 and name.startswith("x" * 58)

    run(scenario)


@pytest.mark.parametrize(("labels", "message"), [
    ({"a b": "x"}, "name part must consist of alphanumeric characters"),
    ({"": "x"}, "name part must be non-empty"),
    ({"Example.com/a": "x"}, "prefix part a lowercase RFC 1123 subdomain"),
    ({"/a": "x"}, "prefix part must be non-empty"),
    ({"a/b/c": "x"}, "a qualified name must consist of"),
    ({"a" * 64: "x"}, "name part must be no more than 63 characters"),
    ({"app": "x" * 64}, "must be no more than 63 characters"),
    ({"app": "a b"}, "a valid label must be an empty string or consist of alphanumeric characters"),
    ({"app": "-a"}, "a valid label must be an empty string"),
    ({"app": "a\n"}, "a valid label must be an empty string"),
])
def test_label_keys_and_values_follow_kubernetes(labels: dict, message: str) -> None:
    async def scenario(client: TestClient) -> None:
        for path, body in ((CONFIGMAPS, {"metadata": {"name": "bad", "labels": labels}}),
                           (SERVICES, {**ksvc(), "metadata": {"name": "bad", "labels": labels}})):
            status = await refused(client, "POST", path, body)
            assert set(fields(status)) == {"metadata.labels"} and message in status["message"]
            await absent(client, f"{path}/bad")

    run(scenario)


def test_valid_labels_and_annotations_are_kept() -> None:
    async def scenario(client: TestClient) -> None:
        labels = {"app": "", "example.com/tier": "Front_end.1", "a" * 63: "b" * 63}
        annotations = {"Example.COM/Note": "anything at all\n", "x": "y" * 1000}
        body = {"metadata": {"name": "ok", "labels": labels, "annotations": annotations}}
        response = await client.post(CONFIGMAPS, data=json.dumps(body), headers=AUTH)
        assert response.status == 201, await response.text()
        meta = (await response.json())["metadata"]
        assert meta["labels"] == labels and meta["annotations"] == annotations

    run(scenario)


def test_annotations_are_qualified_names_of_at_most_256_kib_in_all() -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", CONFIGMAPS, {"metadata": {"name": "bad", "annotations": {
            "a": "x" * 200_000, "b": "y" * 62_143}}})  # 262145 bytes with the keys
        assert fields(status) == ["metadata.annotations"]
        assert "Too long: must have at most 262144 bytes" in status["message"]
        status = await refused(client, "POST", CONFIGMAPS, {"metadata": {"name": "bad", "annotations": {
            "not ok": "x"}}})
        assert fields(status) == ["metadata.annotations"]
        just = {"metadata": {"name": "ok", "annotations": {"a": "x" * 200_000, "b": "y" * 62_142}}}
        assert (await client.post(CONFIGMAPS, data=json.dumps(just), headers=AUTH)).status == 201

    run(scenario)


def test_config_map_and_secret_data_are_at_most_1_mib() -> None:
    async def scenario(client: TestClient) -> None:
        big = {"metadata": {"name": "bad"}, "data": {"a": "x" * (1024 * 1024)}}  # + the key: one byte over
        status = await refused(client, "POST", CONFIGMAPS, big)
        assert "Too long: must have at most 1048576 bytes" in status["message"] and fields(status) == ["data"]
        await absent(client, f"{CONFIGMAPS}/bad")
        secret = {"metadata": {"name": "bad"}, "stringData": {"a": "x" * (1024 * 1024 + 1)}}
        status = await refused(client, "POST", SECRETS, secret)
        assert "Too long: must have at most 1048576 bytes" in status["message"]
        fits = {"metadata": {"name": "ok"}, "data": {"a": "x" * (1024 * 1024 - 1)}}
        assert (await client.post(CONFIGMAPS, data=json.dumps(fits), headers=AUTH)).status == 201
        binary = {"metadata": {"name": "bin"}, "binaryData": {"b": "not base64!"}}
        assert fields(await refused(client, "POST", CONFIGMAPS, binary)) == ["binaryData[b]"]

    run(scenario)


# 3. Numbers as Go parses them; probes --------------------------------------------------------------

@pytest.mark.parametrize(("key", "value"), [
    ("target", "NaN"), ("target", "1_0"), ("target", "1e400"), ("target", " 5"), ("target", "inf"),
    ("min-scale", " 5 "), ("min-scale", "\uff15"), ("min-scale", "1_0"), ("min-scale", "2147483648"),
    ("max-scale", "2147483648"), ("max-scale", "+\uff11"), ("initial-scale", "2147483648"),
    ("initial-scale", "1_0"), ("activation-scale", " 2"), ("target-utilization-percentage", "nan"),
    ("panic-window-percentage", "1_0"), ("panic-threshold-percentage", "Infinity"),
    ("target-burst-capacity", "1e999"), ("window", " 60s"), ("window", "\uff16\uff10s"),
    ("scale-down-delay", "1_0s"), ("scale-to-zero-pod-retention-period", "1s "),
])
def test_autoscaling_numbers_are_parsed_as_knative_parses_them(key: str, value: str) -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", SERVICES, ksvc(annotations={K + key: value}))
        assert fields(status) == [f"spec.template.metadata.annotations.{K}{key}"]
        await absent(client, f"{SERVICES}/bad")

    run(scenario)


def test_progress_deadline_is_a_go_duration() -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", SERVICES,
                               ksvc(annotations={"serving.knative.dev/progress-deadline": "\uff15s"}))
        assert fields(status) == ["spec.template.metadata.annotations.serving.knative.dev/progress-deadline"]

    run(scenario)


def test_strict_numbers() -> None:
    assert parse_int("-12") == -12 and parse_int("+3") == 3
    assert parse_float("1.5") == 1.5 and parse_float(".5e1") == 5.0 and parse_float("5.") == 5.0
    assert parse_duration("1m30s") == 90 and parse_duration("0") == 0 and parse_duration("1.5h") == 5400
    for bad in ("", " 1", "1 ", "1_0", "\uff15", "0x10", "1.5", "1e3", "٣"):
        with pytest.raises(ValueError):
            parse_int(bad)
    for bad in ("", "nan", "NaN", "inf", "-Infinity", "1e400", "1_0.5", " 1", "\uff15", "0x1p-2", "."):
        with pytest.raises(ValueError):
            parse_float(bad)
    for bad in ("", "6", " 6s", "6s ", "\uff16s", "1_0s", "s", ".s", "1d", "9999999999999h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(("probe", "field"), [
    ({"tcpSocket": {"port": 65536}}, "readinessProbe.tcpSocket.port"),
    ({"httpGet": {"port": -1, "path": "/"}}, "readinessProbe.httpGet.port"),
    ({"grpc": {"port": 70000}}, "readinessProbe.grpc.port"),
    ({"exec": {"command": []}}, "readinessProbe.exec.command"),
    ({"exec": {}}, "readinessProbe.exec.command"),
])
def test_probe_ports_in_range_and_exec_needs_a_command(probe: dict, field: str) -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", SERVICES, ksvc(readinessProbe=probe))
        assert f"spec.template.spec.containers[0].{field}" in fields(status)
        await absent(client, f"{SERVICES}/bad")

    run(scenario)


def test_liveness_probe_ports_are_checked_too_and_zero_means_the_serving_port() -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", SERVICES, ksvc(livenessProbe={"tcpSocket": {"port": 99999}}))
        assert fields(status) == ["spec.template.spec.containers[0].livenessProbe.tcpSocket.port"]
        fine = ksvc("ok", readinessProbe={"tcpSocket": {"port": 0}}, livenessProbe={"httpGet": {"port": 8080}})
        assert (await client.post(SERVICES, data=json.dumps(fine), headers=AUTH)).status == 201

    run(scenario)


def test_a_malformed_config_map_setting_does_not_break_admission() -> None:
    async def scenario(client: TestClient) -> None:
        patch = {"data": {"revision-timeout-seconds": "soon", "max-revision-timeout-seconds": "\uff16"}}
        response = await client.patch("/api/v1/namespaces/knative-serving/configmaps/config-defaults",
                                      data=json.dumps(patch),
                                      headers={**AUTH, "Content-Type": "application/merge-patch+json"})
        assert response.status == 200
        created = await client.post(SERVICES, data=json.dumps(ksvc("ok")), headers=AUTH)
        assert created.status == 201, await created.text()
        assert (await created.json())["spec"]["template"]["spec"]["timeoutSeconds"] == 300

    run(scenario)


# 4. Request bodies -----------------------------------------------------------------------------------

def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [101, 900, 5000])
def test_deep_nesting_is_400_and_stores_nothing(depth: int) -> None:
    async def scenario(client: TestClient) -> None:
        service = ksvc()
        service["spec"]["template"]["spec"]["containers"][0]["securityContext"] = nested(depth)
        status = await refused(client, "POST", SERVICES, status=400, raw=json.dumps(service).encode()
                               if depth < 1000 else b'{"metadata": {"name": "bad"}, "x": ' + b"[" * depth
                               + b"]" * depth + b"}")
        assert "nests deeper than 100 levels" in status["message"]
        await absent(client, f"{SERVICES}/bad")
        await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"name": "cm"}}), headers=AUTH)
        for content_type, body in (("application/merge-patch+json", {"data": nested(depth - 1)}),
                                   (SMP, {"data": nested(depth - 1)}),
                                   ("application/json-patch+json", [{"op": "add", "path": "/data",
                                                                     "value": nested(depth - 1)}])):
            text = json.dumps(body).encode() if depth < 900 else (b'{"data": ' + b"[" * depth + b"]" * depth
                                                                    + b"}")
            if content_type.startswith("application/json-patch") and depth >= 900:
                text = b'[{"op": "add", "path": "/data", "value": ' + b"[" * depth + b"]" * depth + b"}]"
            await refused(client, "PATCH", f"{CONFIGMAPS}/cm", status=400, raw=text, content_type=content_type)

    run(scenario)


def test_a_json_patch_that_copies_its_way_deep_is_refused() -> None:
    async def scenario(client: TestClient) -> None:
        await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"name": "cm", "annotations": {}}}),
                          headers=AUTH)
        ops = [{"op": "add", "path": "/x", "value": nested(60)}]
        ops += [{"op": "copy", "from": "/x", "path": "/x/a" + "/a" * (58 + 59 * i)} for i in range(3)]
        response = await client.patch(f"{CONFIGMAPS}/cm", data=json.dumps(ops),
                                      headers={**AUTH, "Content-Type": "application/json-patch+json"})
        assert response.status in (400, 422), await response.text()

    run(scenario)


def test_json_nan_and_lone_surrogates_are_400() -> None:
    async def scenario(client: TestClient) -> None:
        for raw in (b'{"metadata": {"name": "a"}, "data": {"k": NaN}}',
                    b'{"metadata": {"name": "a", "annotations": {"k": "\\ud800"}}}',
                    b'{"metadata": {"name": "a"}, "x": 1e400}'):
            await refused(client, "POST", CONFIGMAPS, status=400, raw=raw)
        await absent(client, f"{CONFIGMAPS}/a")

    run(scenario)


BILLION_LAUGHS = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)])


def test_yaml_alias_bombs_and_recursive_aliases_are_400() -> None:
    async def scenario(client: TestClient) -> None:
        for text in ("metadata: {name: bad}\ndata: {}\nbomb:\n  " + BILLION_LAUGHS.replace("\n", "\n  "),
                     "metadata: &m {name: bad, labels: {a: *m}}"):
            status = await refused(client, "POST", CONFIGMAPS, status=400, raw=text.encode(),
                                   content_type="application/yaml")
            assert "alias" in status["message"]
        await absent(client, f"{CONFIGMAPS}/bad")
        shared = "metadata: {name: ok, labels: &l {app: x}}\ndata: {a: b}\nextra: {labels: *l}"
        response = await client.post(CONFIGMAPS, data=shared, headers={**AUTH, "Content-Type": "application/yaml"})
        assert response.status == 201, await response.text()

    run(scenario)


def test_yaml_values_come_out_as_json_would_carry_them() -> None:
    assert decode_yaml("a: 2024-01-01\n1: x\nb: ~") == {"a": "2024-01-01", "1": "x", "b": None}
    for text in ("a: !!binary aGk=", "a: .nan", "a: .inf", "a: 1\n---\nb: 2", "[" * 200 + "]" * 200):
        with pytest.raises(DecodeError):
            decode_yaml(text)
    with pytest.raises(DecodeError):
        decode_json('{"a": Infinity}')


def test_a_body_over_3_mib_is_413() -> None:
    async def scenario(client: TestClient) -> None:
        body = {"metadata": {"name": "big"}, "data": {"a": "x" * (3 * 1024 * 1024)}}
        status = await refused(client, "POST", CONFIGMAPS, body, status=413)
        assert status["reason"] == "RequestEntityTooLarge" and "limit is 3145728" in status["message"]
        await absent(client, f"{CONFIGMAPS}/big")

    run(scenario)


# 5. Query parameters, DeleteOptions, patch directives ------------------------------------------------

@pytest.mark.parametrize("value", ["bogus", "all", "", "All,bogus"])
def test_dry_run_other_than_all_is_400_and_writes_nothing(value: str) -> None:
    async def scenario(client: TestClient) -> None:
        status = await refused(client, "POST", CONFIGMAPS, {"metadata": {"name": "dry"}}, status=400,
                               params={"dryRun": value})
        assert "Invalid dryRun value" in status["message"]
        await absent(client, f"{CONFIGMAPS}/dry")
        dry = await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"name": "dry"}}), headers=AUTH,
                                params={"dryRun": "All"})
        assert dry.status == 201
        await absent(client, f"{CONFIGMAPS}/dry")

    run(scenario)


def test_dry_run_in_delete_options_deletes_nothing() -> None:
    async def scenario(client: TestClient) -> None:
        await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"name": "keep"}}), headers=AUTH)
        await refused(client, "DELETE", f"{CONFIGMAPS}/keep", {"dryRun": ["bogus"]}, status=400)
        await refused(client, "DELETE", f"{CONFIGMAPS}/keep", status=400, params={"dryRun": "x"})
        deleted = await client.delete(f"{CONFIGMAPS}/keep", data=json.dumps({"dryRun": ["All"]}), headers=AUTH)
        assert deleted.status == 200
        assert (await client.get(f"{CONFIGMAPS}/keep", headers=AUTH)).status == 200

    run(scenario)


@pytest.mark.parametrize(("params", "body"), [
    ({}, {"preconditions": "x"}),
    ({}, {"preconditions": {"uid": 5}}),
    ({}, {"gracePeriodSeconds": "5"}),
    ({}, {"orphanDependents": "yes"}),
    ({}, {"propagationPolicy": "Sideways"}),
    ({}, {"propagationPolicy": "Orphan", "orphanDependents": True}),
    ({}, ["not", "an", "object"]),
    ({"gracePeriodSeconds": "abc"}, None),
    ({"gracePeriodSeconds": "1e400"}, None),
    ({"gracePeriodSeconds": "99999999999999999999"}, None),
    ({"propagationPolicy": "bogus"}, None),
])
def test_bad_delete_options_are_400_and_delete_nothing(params: dict, body: object) -> None:
    async def scenario(client: TestClient) -> None:
        await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"name": "keep"}}), headers=AUTH)
        await refused(client, "DELETE", f"{CONFIGMAPS}/keep", body, status=400, params=params)
        await refused(client, "DELETE", CONFIGMAPS, body, status=400, params=params)
        assert (await client.get(f"{CONFIGMAPS}/keep", headers=AUTH)).status == 200

    run(scenario)


@pytest.mark.parametrize("params", [
    {"timeoutSeconds": "abc"}, {"timeoutSeconds": "1e400"}, {"timeoutSeconds": "nan"}, {"timeoutSeconds": "1.5"},
    {"timeoutSeconds": "-1"}, {"timeoutSeconds": "\uff15"}, {"limit": "x"}, {"resourceVersion": "abc"},
    {"resourceVersion": " 5"}, {"timeoutSeconds": "99999999999999999999"},
])
def test_bad_list_and_watch_parameters_are_400(params: dict) -> None:
    async def scenario(client: TestClient) -> None:
        for watch in ({}, {"watch": "true"}):
            await refused(client, "GET", SERVICES, status=400, params={**params, **watch})

    run(scenario)


def test_a_valid_watch_timeout_ends_the_watch_and_a_huge_one_is_accepted() -> None:
    async def scenario(client: TestClient) -> None:
        params = {"watch": "true", "timeoutSeconds": "1"}
        response = await client.get(SERVICES, headers=AUTH, params=params)
        assert response.status == 200 and (await response.text()) == ""
        huge = await client.get(SERVICES, headers=AUTH, params={"watch": "true", "timeoutSeconds": "10000000"})
        assert huge.status == 200  # accepted, and cut to MAX_WATCH_SECONDS rather than overflowing
        huge.close()

    run(scenario)


@pytest.mark.parametrize("params", [
    {"tailLines": "x"}, {"tailLines": "-1"}, {"limitBytes": "0"}, {"limitBytes": "1e400"}, {"sinceSeconds": "0"},
    {"tailLines": "\uff11"},
])
def test_bad_pod_log_parameters_are_400(params: dict) -> None:
    async def scenario(client: TestClient) -> None:
        await refused(client, "GET", f"{PODS}/p/log", status=400, params=params)
        fine = await client.get(f"{PODS}/p/log", headers=AUTH, params={"tailLines": "1", "limitBytes": "10"})
        assert fine.status == 200

    run(scenario)


def test_bad_field_validation_field_manager_and_include_object_are_400() -> None:
    async def scenario(client: TestClient) -> None:
        body = {"metadata": {"name": "cm"}}
        await refused(client, "POST", CONFIGMAPS, body, status=400, params={"fieldValidation": "Loose"})
        await refused(client, "POST", CONFIGMAPS, body, status=400, params={"fieldManager": "x" * 129})
        await refused(client, "POST", CONFIGMAPS, body, status=400, params={"fieldManager": "a\tb"})
        await absent(client, f"{CONFIGMAPS}/cm")
        response = await client.get(CONFIGMAPS, params={"includeObject": "Everything"}, headers={
            **AUTH, "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        assert response.status == 400

    run(scenario)


@pytest.mark.parametrize("patch", [
    {"$retainKeys": 5}, {"$retainKeys": [1, 2]}, {"data": {"$retainKeys": "a"}},
    {"$deleteFromPrimitiveList/finalizers": "a"}, {"$setElementOrder/finalizers": {}}, {"$patch": "explode"},
    {"$patch": 5},
])
def test_strategic_merge_patch_directives_of_the_wrong_shape_are_400(patch: dict) -> None:
    async def scenario(client: TestClient) -> None:
        await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"name": "cm"}, "data": {"a": "b"}}),
                          headers=AUTH)
        await refused(client, "PATCH", f"{CONFIGMAPS}/cm", patch, status=400, content_type=SMP)

    run(scenario)


def test_patches_that_break_metadata_are_refused_not_500() -> None:
    async def scenario(client: TestClient) -> None:
        await client.post(CONFIGMAPS, data=json.dumps({"metadata": {"name": "cm"}}), headers=AUTH)
        for content_type, body in (("application/merge-patch+json", {"metadata": 5}),
                                   ("application/merge-patch+json", {"metadata": {"labels": {"a": 1}}}),
                                   ("application/json-patch+json", [{"op": "replace", "path": "/metadata",
                                                                     "value": []}]),
                                   ("application/json-patch+json", [5]),
                                   ("application/json-patch+json", [{"op": "copy", "from": 5, "path": "/x"}]),
                                   (SMP, {"metadata": {"name": ["x"]}})):
            response = await client.patch(f"{CONFIGMAPS}/cm", data=json.dumps(body),
                                          headers={**AUTH, "Content-Type": content_type})
            assert response.status in (400, 422), (body, response.status, await response.text())
        apply = await client.patch(f"{CONFIGMAPS}/cm", data="[1, 2]", params={"fieldManager": "m"},
                                   headers={**AUTH, "Content-Type": "application/apply-patch+yaml"})
        assert apply.status == 400

    run(scenario)


def test_a_second_apply_that_omits_the_name_keeps_it() -> None:
    async def scenario(client: TestClient) -> None:
        headers = {**AUTH, "Content-Type": "application/apply-patch+yaml"}
        first = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}"
        second = "apiVersion: v1\nkind: ConfigMap\ndata: {a: c}"
        for body in (first, second):
            response = await client.patch(f"{CONFIGMAPS}/cm", data=body, headers=headers,
                                          params={"fieldManager": "m"})
            assert response.status in (200, 201), await response.text()
        assert (await (await client.get(f"{CONFIGMAPS}/cm", headers=AUTH)).json())["data"] == {"a": "c"}

    run(scenario)


def test_warnings_about_field_names_with_control_characters_reach_the_client() -> None:
    async def scenario(client: TestClient) -> None:
        body = copy.deepcopy(ksvc("warned"))
        body["spec"]["bad\nfield"] = 1
        response = await client.post(SERVICES, data=json.dumps(body), headers=AUTH)
        assert response.status == 201
        assert response.headers.getall("Warning") == ['299 - "unknown field \\"spec.bad\\nfield\\""']

    run(scenario)


def test_label_selector_numbers_are_parsed_as_go_parses_them() -> None:
    async def scenario(client: TestClient) -> None:
        for name, value in (("ten", "10"), ("underscored", "1_0")):
            body = {"metadata": {"name": name, "labels": {"n": value}}}
            assert (await client.post(CONFIGMAPS, data=json.dumps(body), headers=AUTH)).status == 201
        listed = await (await client.get(CONFIGMAPS, params={"labelSelector": "n>5"}, headers=AUTH)).json()
        assert [item["metadata"]["name"] for item in listed["items"]] == ["ten"]
        await refused(client, "GET", CONFIGMAPS, status=400, params={"labelSelector": "n>\uff15"})

    run(scenario)
