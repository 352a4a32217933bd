"""Fuzzing the API server in process: whatever a client sends, the answer is never a 5xx.

Objects start from valid manifests of a few kinds and are then corrupted at random places (names,
labels, annotations, numbers in strings, wrong JSON types, deep nesting); patches, DeleteOptions and
query strings are drawn the same way. Examples are derandomized and bounded, so every run checks the
same inputs in a few seconds.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.server import ApiServer
from reference.apiserver.store import Store

TOKEN = "fuzz"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

IMAGE = "gcr.io/knative-samples/helloworld-go"
AUTOSCALING = "autoscaling.knative.dev/"


@dataclass(frozen=True)
class Kind:
    path: str  # the collection in namespace default
    manifest: dict
    builtin: bool  # takes strategic merge patches


KINDS = (
    Kind("/api/v1/namespaces/default/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fuzz", "labels": {"app": "fuzz"}},
        "data": {"key": "value"}, "binaryData": {"bin": "aGk="}}, True),
    Kind("/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fuzz"},
        "data": {"key": "aGk="}, "stringData": {"text": "hi"}, "type": "Opaque"}, True),
    Kind("/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fuzz"},
        "spec": {"containers": [{"name": "c", "image": IMAGE, "resources": {"limits": {"cpu": "1"}},
                                 "volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "a"}]}],
                 "volumes": [{"name": "v", "configMap": {"name": "fuzz", "items": [{"key": "k", "path": "k"}]}}],
                 "terminationGracePeriodSeconds": 5}}, True),
    Kind("/apis/serving.knative.dev/v1/namespaces/default/services", {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "fuzz"},
        "spec": {"template": {
            "metadata": {"annotations": {f"{AUTOSCALING}min-scale": "1", f"{AUTOSCALING}target": "10",
                                         f"{AUTOSCALING}window": "60s"}},
            "spec": {"containerConcurrency": 10, "timeoutSeconds": 30,
                     "containers": [{"image": IMAGE, "ports": [{"containerPort": 8080}],
                                     "env": [{"name": "A", "value": "b"}],
                                     "readinessProbe": {"httpGet": {"path": "/", "port": 0}, "periodSeconds": 1},
                                     "volumeMounts": [{"name": "cfg", "mountPath": "/cfg", "subPath": "a",
                                                       "readOnly": True}],
                                     "resources": {"requests": {"cpu": "100m"}}}],
                     "volumes": [{"name": "cfg", "configMap": {"name": "fuzz",
                                                               "items": [{"key": "k", "path": "k"}]}},
                                 {"name": "p", "projected": {"sources": [
                                     {"secret": {"name": "fuzz", "items": [{"key": "k", "path": "k"}]}}]}}]}},
            "traffic": [{"latestRevision": True, "percent": 100}]}}, False),
    Kind("/apis/eventing.knative.dev/v1/namespaces/default/triggers", {
        "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "fuzz"},
        "spec": {"broker": "default", "filter": {"attributes": {"type": "dev.example"}},
                 "filters": [{"exact": {"type": "a"}}, {"not": {"prefix": {"source": "b"}}}],
                 "subscriber": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "x"}},
                 "delivery": {"retry": 2, "backoffPolicy": "linear", "backoffDelay": "PT1S"}}}, False),
)

# Strings that Python reads more generously than Go or Kubernetes do, and other troublemakers.
TRICKY = ("", " ", "0", "-1", "1", "1.5", "1e400", "-1e400", "NaN", "nan", "inf", "Infinity", "1_0", " 5 ", "\uff15",
          "\uff12s", "0x10", "+3", "2147483647", "2147483648", "99999999999999999999", "6s", "1h", "-5s", "PT1S",
          "P", "abc\n", "a/b", "a/b/c", "..", "../x", "/abs", "a b", "A", "-a", "a-", "x" * 64, "x" * 254,
          "All", "bogus", "Strict", "Foreground", "\u0000", "é", "[]", "{}", "null", "true")
KEYS = sorted({*("name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences",
                 "resourceVersion", "uid", "generation", "managedFields", "image", "containers", "volumes",
                 "volumeMounts", "subPath", "items", "path", "key", "port", "exec", "command", "projected",
                 "sources", "data", "binaryData", "stringData", "immutable", "spec", "metadata", "template",
                 "traffic", "percent", "tag", "filter", "filters", "attributes", "delivery", "retry", "all",
                 "any", "not", "cesql", "subscriber", "ref", "uri", "$patch", "$retainKeys", "preconditions",
                 "$deleteFromPrimitiveList/finalizers", "$setElementOrder/containers", "readinessProbe",
                 "livenessProbe", "tcpSocket", "grpc", "httpGet", "resources", "limits", "requests"),
              *(f"{AUTOSCALING}{k}" for k in ("min-scale", "max-scale", "initial-scale", "target", "window",
                                              "target-utilization-percentage", "panic-window-percentage",
                                              "scale-down-delay", "activation-scale", "metric", "class"))})

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False,
                    allow_infinity=False), st.sampled_from(TRICKY), st.text(max_size=12))
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=10))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
texts = st.one_of(st.sampled_from(TRICKY), st.text(max_size=70),
                  st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True))
names = st.one_of(texts, json_values)
numeric_texts = st.one_of(st.sampled_from(TRICKY), st.from_regex(
    "[-+ ]?[0-9_\uff15]{0,12}(\\.[0-9]*)?([eE][-+]?[0-9]{1,4})?(ms|s|m|h)? ?", fullmatch=True))
label_maps = st.dictionaries(texts, st.one_of(texts, numeric_texts, json_values), max_size=4)
annotation_maps = st.dictionaries(st.one_of(st.sampled_from(KEYS), texts), st.one_of(numeric_texts, texts),
                                  max_size=5)
QUERY = ("dryRun", "fieldValidation", "fieldManager", "force", "timeoutSeconds", "limit", "resourceVersion",
         "resourceVersionMatch", "labelSelector", "fieldSelector", "includeObject", "gracePeriodSeconds",
         "propagationPolicy", "orphanDependents", "tailLines", "limitBytes", "sinceSeconds", "watch")
queries = st.dictionaries(st.sampled_from(QUERY), st.one_of(st.sampled_from(TRICKY), numeric_texts,
                                                            st.text(max_size=20)), max_size=4)


def _containers(value: object, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    """(path, node) for every dict and list in `value`."""
    if isinstance(value, dict | list):
        yield path, value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            yield from _containers(child, (*path, key))


def mutated(data: st.DataObject, base: dict, rounds: int = 3) -> dict:
    """`base` with a few random fields replaced, added or removed."""
    obj = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(0, rounds))):
        spots = list(_containers(obj))
        _, node = data.draw(st.sampled_from(spots))
        if isinstance(node, list):
            if node and data.draw(st.booleans()):
                node[data.draw(st.integers(0, len(node) - 1))] = data.draw(json_values)
            else:
                node.append(data.draw(json_values))
        elif node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node)))
            if data.draw(st.booleans()):
                del node[key]
            else:
                node[key] = data.draw(st.one_of(json_values, numeric_texts, label_maps))
        else:
            node[data.draw(keys)] = data.draw(json_values)
    return obj


def with_metadata(data: st.DataObject, obj: dict) -> dict:
    """Random names, labels and annotations on the object (and on a Service's template)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    if data.draw(st.booleans()):
        meta["name"] = data.draw(names)
    if data.draw(st.booleans()):
        meta["generateName"] = data.draw(names)
    if data.draw(st.booleans()):
        meta["labels"] = data.draw(label_maps)
    if data.draw(st.booleans()):
        meta["annotations"] = data.draw(annotation_maps)
    template = (obj.get("spec") or {}).get("template") if isinstance(obj.get("spec"), dict) else None
    if isinstance(template, dict) and data.draw(st.booleans()):
        template["metadata"] = {"annotations": data.draw(annotation_maps)}
    return obj


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def encoded(data: st.DataObject, value: object) -> tuple[bytes, str]:
    """The body as JSON or YAML, or (sometimes) raw text that is neither."""
    form = data.draw(st.sampled_from(("json", "json", "yaml", "raw")))
    if form == "json":
        return json.dumps(value).encode(), "application/json"
    if form == "yaml":
        return yaml.safe_dump(value).encode(), "application/yaml"
    raw = data.draw(st.sampled_from((
        b"", b"{", b"[]", b"null", b'{"metadata": {"name": "\\ud800"}}', b'{"a": NaN}', b'{"a": 1e999}',
        b"a: &a [*a]", b"a: 2024-01-01", b"? [1]\n: x", b"\xff\xfe", b"---\na: 1\n---\nb: 2",
        json.dumps(nested(150)).encode(), b"[" * 5000 + b"]" * 5000)))
    return raw, data.draw(st.sampled_from(("application/json", "application/yaml")))


class Api:
    """One in-process API server for the whole module, driven from a single event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        registry = Registry(Store())
        bootstrap(registry)
        server = ApiServer(registry, TOKEN)
        pods = registry.kinds.by_path("", "v1", "pods")
        server.add_subresource(pods, "log", self._logs)
        self.client = TestClient(TestServer(server.app(), shutdown_timeout=0.1), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())
        for kind in KINDS:
            self.call("POST", kind.path, json.dumps(kind.manifest).encode())

    @staticmethod
    async def _logs(request: web.Request, kind: object, namespace: str, name: str) -> web.StreamResponse:
        return web.Response(text="log line\n")

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
             params: dict | None = None, accept: str = "application/json") -> int:
        async def send() -> int:
            headers = {**AUTH, "Content-Type": content_type, "Accept": accept}
            async with self.client.request(method, path, data=body, params=params, headers=headers) as response:
                if params and params.get("watch") in ("true", "1") and response.status == 200:
                    return response.status  # a watch streams until it times out: its status is enough
                await response.read()
                return response.status

        return self.loop.run_until_complete(send())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


def check(api: Api, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
          params: dict | None = None) -> int:
    status = api.call(method, path, body, content_type, params)
    assert status < 500, f"{method} {path} {params} {content_type} {body[:300] if body else body!r} -> {status}"
    return status


@FUZZ
@given(data=st.data())
def test_create_never_answers_5xx(api: Api, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(KINDS))
    obj = with_metadata(data, mutated(data, kind.manifest))
    body, content_type = encoded(data, obj)
    check(api, "POST", kind.path, body, content_type, data.draw(queries))


@FUZZ
@given(data=st.data())
def test_update_and_patch_never_answer_5xx(api: Api, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(KINDS))
    item = f"{kind.path}/fuzz"
    check(api, "POST", kind.path, json.dumps(kind.manifest).encode())  # back if a delete took it
    flavour = data.draw(st.sampled_from(("put", "merge", "json", "strategic", "apply")))
    params = data.draw(queries)
    if flavour == "put":
        body, content_type = encoded(data, with_metadata(data, mutated(data, kind.manifest)))
        check(api, "PUT", item, body, content_type, params)
    elif flavour == "merge" or (flavour == "strategic" and kind.builtin):
        patch = with_metadata(data, mutated(data, {"metadata": {}, **{
            k: v for k, v in kind.manifest.items() if k not in ("apiVersion", "kind", "metadata")}}))
        content_type = f"application/{'merge' if flavour == 'merge' else 'strategic-merge'}-patch+json"
        check(api, "PATCH", item, json.dumps(patch).encode(), content_type, params)
    elif flavour == "json":
        operation = st.fixed_dictionaries({
            "op": st.sampled_from(("add", "remove", "replace", "move", "copy", "test", "bogus")),
            "path": st.one_of(st.sampled_from(("", "/metadata/labels/a", "/spec/template", "/data/key", "/-",
                                               "/metadata/name", "/spec/containers/0/image")), st.text(max_size=8)),
        }, optional={"value": json_values, "from": st.sampled_from(("", "/metadata", "/spec", "/x"))})
        ops = data.draw(st.one_of(st.lists(operation, max_size=4), json_values))
        check(api, "PATCH", item, json.dumps(ops).encode(), "application/json-patch+json", params)
    else:
        body, _ = encoded(data, with_metadata(data, mutated(data, kind.manifest)))
        check(api, "PATCH", item, body, "application/apply-patch+yaml", {**params, "fieldManager": "fuzz"})


@FUZZ
@given(data=st.data())
def test_delete_never_answers_5xx(api: Api, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(KINDS))
    options = data.draw(st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "gracePeriodSeconds": st.one_of(st.integers(-5, 5), json_values),
        "preconditions": st.one_of(st.fixed_dictionaries({}, optional={"uid": names, "resourceVersion": names}),
                                   json_values),
        "propagationPolicy": st.one_of(st.sampled_from(("Orphan", "Background", "Foreground")), json_values),
        "orphanDependents": json_values, "dryRun": st.one_of(st.just(["All"]), json_values)})))
    target = data.draw(st.sampled_from((f"{kind.path}/fuzz", f"{kind.path}/absent", kind.path)))
    check(api, "DELETE", target, json.dumps(options).encode(), params=data.draw(queries))


@FUZZ
@given(data=st.data())
def test_list_watch_and_logs_never_answer_5xx(api: Api, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(KINDS))
    params = data.draw(queries)
    target = data.draw(st.sampled_from(("list", "watch", "get", "log")))
    path = {"get": f"{kind.path}/fuzz", "log": "/api/v1/namespaces/default/pods/fuzz/log"}.get(target, kind.path)
    if target == "watch":
        params["watch"] = "true"
        params["resourceVersion"] = data.draw(st.sampled_from(("", "0", "-5", "abc", "1", "99999999")))
    table = data.draw(st.booleans())
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" if table else "application/json"
    status = api.call("GET", path, params=params, accept=accept)
    assert status < 500, f"GET {path} {params} table={table} -> {status}"
