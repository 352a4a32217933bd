"""The one driver: everything the suite and the load scenarios do to a target goes through here.

A target is a Kubernetes API (from a kubeconfig) plus the address of its ingress. The same code drives
the embedded reference, a kind cluster with Knative, or a GPU cluster; tests never branch on which,
except through the capabilities the target declares.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import yaml
from kubernetes import client, config, watch
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError
from kubernetes.dynamic.resource import Resource

from reference.apis.objects import pod_ready

# Capabilities a target may declare; tests that need one skip with a reason elsewhere.
RESTART = "restart"  # the suite may restart the platform (it started it)
KILL_POD = "kill-pod"  # deleting a pod really stops its process
GPU = "gpu"
REFERENCE = "reference"  # the target is kproof's reference platform
VOLUMES = "volumes"  # containers can mount volumes (every cluster; the reference with bubblewrap)
KAFKA = "kafka"  # a Kafka both the tests and the platform reach (Target.kafka_bootstrap)
RESERVE_INSTANCE = "reserve-instance"  # ACK's reserved instances (knative.aliyun.com/reserve-instance)
CEPH = "ceph"  # a Ceph object gateway can be started beside the target for its pods (seed 003; the `rgw` fixture)
XPA = "xpa"  # ACK's xpa autoscaler class (seed 000), which upstream Knative refuses
CEL_FILTERS = "cel-filters"  # kproof's `cel` Trigger filter dialect, which upstream Knative's broker skips
CLUSTER_CAPABILITIES = frozenset({VOLUMES})

FIELD_MANAGER = "kproof"
# Everything a run creates carries its run's id under this label, so that `kproof cleanup` finds it.
RUN_LABEL = "kproof.dev/run"
# Ready=False for these reasons will not recover by waiting.
FAILURE_REASONS = ("RevisionFailed", "ContainerMissing", "ImagePullBackOff", "ErrImagePull", "NotOwned")


class PlatformControl(Protocol):
    """What a target that the suite itself started can also do."""

    def restart(self) -> None: ...

    def kill_data_plane(self) -> None:
        """Kills the data plane's process outright (SIGKILL); the platform starts a new one."""


class TimeoutExpired(AssertionError):
    """A wait ran out of time; the message says what was awaited and what was last seen."""


def load_manifests(source: str | Path | dict | Iterable[dict]) -> list[dict]:
    """Documents from YAML text, a file, one object or a list of objects (empty documents dropped)."""
    if isinstance(source, dict):
        return [source]
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                    and source.endswith((".yaml", ".yml", ".json"))):
        source = Path(source).read_text()
    if isinstance(source, str):
        return [doc for doc in yaml.safe_load_all(source) if doc]
    return [doc for doc in source if doc]


@dataclass
class Target:
    kubeconfig: Path
    ingress: str | None = None
    domain: str | None = None
    capabilities: frozenset[str] = frozenset()
    platform: PlatformControl | None = None
    kafka_bootstrap: str | None = None
    run_id: str | None = None  # labels what create and apply make (RUN_LABEL)
    keep: bool = False  # the run keeps what it made (kproof run --keep): fixtures leave their namespaces
    # Changes to every object before it is created or applied, in order (a run's fixtures add them).
    transforms: list[Callable[[dict], dict]] = field(default_factory=list, repr=False)
    images: set[str] = field(default_factory=set, repr=False)  # every image named by what was created or applied
    _api: client.ApiClient | None = field(default=None, repr=False)
    _dynamic: DynamicClient | None = field(default=None, repr=False)

    # Clients -------------------------------------------------------------------------------------

    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            self._api = config.new_client_from_config(config_file=str(self.kubeconfig))
        return self._api

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.api)
        return self._dynamic

    @property
    def api_url(self) -> str:
        return self.api.configuration.host

    def reconnect(self) -> None:
        """Drops cached clients (after the API moved or restarted)."""
        if self._api is not None:
            self._api.close()
        self._api = None
        self._dynamic = None

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def resource(self, api_version: str, kind: str) -> Resource:
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            self.dynamic.resources.invalidate_cache()
            return self.dynamic.resources.get(api_version=api_version, kind=kind)

    # Objects -------------------------------------------------------------------------------------

    def create(self, obj: dict, namespace: str | None = None, field_validation: str | None = None,
               dry_run: bool = False) -> dict:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        ns = self._namespace_for(resource, obj, namespace)
        obj = self._prepared(obj, labelled=True)
        query = [("fieldValidation", field_validation)] if field_validation else []
        return self.dynamic.create(resource, body=obj, namespace=ns, query_params=query,
                                   dry_run="All" if dry_run else None).to_dict()

    def apply(self, source: str | Path | dict | Iterable[dict], namespace: str | None = None) -> list[dict]:
        """Server-side apply of every document, in order (like `kubectl apply --server-side`)."""
        applied = []
        for obj in load_manifests(source):
            resource = self.resource(obj["apiVersion"], obj["kind"])
            ns = self._namespace_for(resource, obj, namespace)
            obj = self._prepared(obj, labelled=self._labels_on_apply(resource, obj, ns))
            result = self.dynamic.server_side_apply(
                resource, body=obj, name=obj["metadata"]["name"], namespace=ns,
                field_manager=FIELD_MANAGER, force_conflicts=True,
            )
            applied.append(result.to_dict())
        return applied

    def _prepared(self, obj: dict, labelled: bool) -> dict:
        """A copy of `obj` as this run sends it: transformed, labelled with the run's id, its images noted."""
        obj = copy.deepcopy(obj)
        for transform in self.transforms:
            obj = transform(obj)
        if labelled and self.run_id:
            metadata = obj.setdefault("metadata", {})
            metadata["labels"] = {**(metadata.get("labels") or {}), RUN_LABEL: self.run_id}
        self.images.update(images_in(obj))
        return obj

    def _labels_on_apply(self, resource: Resource, obj: dict, namespace: str | None) -> bool:
        """Whether an apply carries the run label: for an object this run makes (or made), never for one that
        was there before it (a platform ConfigMap), which `kproof cleanup` must not remove. Server-side apply
        drops a label its manager set before and leaves out now, so an object the run made keeps it."""
        if not self.run_id:
            return False
        try:
            existing = self.dynamic.get(resource, name=obj["metadata"]["name"], namespace=namespace).to_dict()
        except NotFoundError:
            return True
        return RUN_LABEL in (existing.get("metadata", {}).get("labels") or {})

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        resource = self.resource(api_version, kind)
        try:
            return self.dynamic.get(resource, name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None) -> list[dict]:
        resource = self.resource(api_version, kind)
        result = self.dynamic.get(resource, namespace=namespace, label_selector=label_selector,
                                  field_selector=field_selector).to_dict()
        return result.get("items") or []

    def patch(self, api_version: str, kind: str, name: str, body: Any, namespace: str | None = None,
              patch_type: str = "application/merge-patch+json") -> dict:
        resource = self.resource(api_version, kind)
        return self.dynamic.patch(resource, body=body, name=name, namespace=namespace,
                                  content_type=patch_type).to_dict()

    def replace(self, obj: dict, namespace: str | None = None) -> dict:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        ns = self._namespace_for(resource, obj, namespace)
        return self.dynamic.replace(resource, body=obj, namespace=ns).to_dict()

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None,
               wait: bool = True, timeout: float = 60, propagation: str = "Background") -> None:
        resource = self.resource(api_version, kind)
        try:
            self.dynamic.delete(resource, name=name, namespace=namespace,
                                body={"propagationPolicy": propagation})
        except NotFoundError:
            return
        if wait:
            self.wait_until(api_version, kind, name, lambda obj: obj is None, namespace, timeout,
                            what="deleted")

    def release_namespace(self, name: str) -> None:
        """Deletes, without waiting, a namespace a fixture made for tests, unless the run keeps what it made
        (then `kproof cleanup` removes it later)."""
        if not self.keep:
            self.delete("v1", "Namespace", name, wait=False)

    def _namespace_for(self, resource: Resource, obj: dict, namespace: str | None) -> str | None:
        if not resource.namespaced:
            return None
        return obj.get("metadata", {}).get("namespace") or namespace or "default"

    # Waiting -------------------------------------------------------------------------------------

    def watch(self, api_version: str, kind: str, namespace: str | None = None, *,
              timeout: float = 60, label_selector: str | None = None, field_selector: str | None = None,
              resource_version: str | None = None) -> Iterator[dict]:
        """Watch events ({"type", "object"}) for at most `timeout` seconds."""
        resource = self.resource(api_version, kind)
        watcher = watch.Watch()
        deadline = time.monotonic() + timeout
        try:
            for event in self.dynamic.watch(resource, namespace=namespace, label_selector=label_selector,
                                            field_selector=field_selector,
                                            resource_version=resource_version,
                                            timeout=max(1, int(timeout)), watcher=watcher):
                yield {"type": event["type"], "object": event["raw_object"]}
                if time.monotonic() >= deadline:
                    return
        finally:
            watcher.stop()

    def wait_until(self, api_version: str, kind: str, name: str,
                   predicate: Callable[[dict | None], bool], namespace: str | None = None,
                   timeout: float = 60, what: str = "the condition") -> dict | None:
        """Waits, by watching, until `predicate(object or None)` holds; raises TimeoutExpired."""
        deadline = time.monotonic() + timeout
        last = self.get(api_version, kind, name, namespace)
        while True:
            if predicate(last):
                return last
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutExpired(f"{kind} {namespace or ''}/{name} not {what} within {timeout}s; "
                                     f"last seen: {_summary(last)}")
            resource_version = (last or {}).get("metadata", {}).get("resourceVersion")
            for event in self.watch(api_version, kind, namespace, timeout=min(remaining, 30),
                                    field_selector=f"metadata.name={name}",
                                    resource_version=resource_version if last else None):
                last = None if event["type"] == "DELETED" else event["object"]
                if predicate(last):
                    return last
            last = self.get(api_version, kind, name, namespace)

    def wait_for(self, api_version: str, kind: str, name: str, namespace: str | None = None,
                 condition: str = "Ready", status: str = "True", timeout: float = 60,
                 fail_on: tuple[str, ...] = FAILURE_REASONS) -> dict:
        """Waits for a condition; gives up at once when the condition turns False for a reason in `fail_on`."""
        def holds(obj: dict | None) -> bool:
            if obj is not None and _observed(obj) and condition_status(obj, condition) == "False":
                reason = next((c.get("reason", "") for c in obj.get("status", {}).get("conditions") or []
                               if c.get("type") == condition), "")
                if reason in fail_on:
                    raise TimeoutExpired(f"{kind} {namespace or ''}/{name} failed: {_summary(obj)}: "
                                         f"{_messages(obj)}")
            return obj is not None and condition_status(obj, condition) == status and _observed(obj)

        found = self.wait_until(api_version, kind, name, holds, namespace, timeout,
                                what=f"{condition}={status}")
        assert found is not None
        return found

    def raw(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        """A request to the API server itself; `token` replaces the kubeconfig's credentials ("" sends
        none)."""
        conf = self.api.configuration
        headers = dict(kwargs.pop("headers", None) or {})
        if token is None:
            credentials = conf.api_key.get("BearerToken") or conf.api_key.get("authorization")
            if credentials:
                headers["authorization"] = credentials
        elif token:
            headers["authorization"] = f"Bearer {token}"
        verify = conf.ssl_ca_cert if conf.verify_ssl and conf.ssl_ca_cert else conf.verify_ssl
        # a replaced token replaces a client certificate too (kubeconfigs of clusters often carry one)
        cert = (conf.cert_file, conf.key_file) if conf.cert_file and token is None else None
        return requests.request(method, conf.host + path, headers=headers, verify=verify, cert=cert,
                                timeout=kwargs.pop("timeout", 30), **kwargs)

    # HTTP through the ingress --------------------------------------------------------------------

    def service_host(self, name: str, namespace: str = "default") -> str:
        """The host a Knative Service answers on: from its status.url, else <name>.<ns>.<domain>."""
        ksvc = self.get("serving.knative.dev/v1", "Service", name, namespace)
        url = ((ksvc or {}).get("status") or {}).get("url")
        if url:
            return urlsplit(url).netloc
        return f"{name}.{namespace}.{self.domain or 'example.com'}"

    def http(self, service: str, path: str = "/", method: str = "GET", namespace: str = "default",
             host: str | None = None, timeout: float = 30, **kwargs: Any) -> requests.Response:
        if not self.ingress:
            raise RuntimeError("this target has no ingress address")
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Host"] = host or self.service_host(service, namespace)
        return requests.request(method, self.ingress.rstrip("/") + path, headers=headers, timeout=timeout,
                                **kwargs)


pod_is_ready = pod_ready  # the suite's name for the shared definition (reference.apis.objects)


def images_in(obj: object) -> set[str]:
    """Every container image an object names (the `image` of its containers, at any depth)."""
    found: set[str] = set()
    if isinstance(obj, dict):
        image = obj.get("image")
        if isinstance(image, str) and image:
            found.add(image)
        for value in obj.values():
            found |= images_in(value)
    elif isinstance(obj, list):
        for value in obj:
            found |= images_in(value)
    return found


def condition_status(obj: dict, condition: str = "Ready") -> str | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == condition:
            return cond.get("status")
    return None


def _observed(obj: dict) -> bool:
    """A status is current when the controller has seen the latest generation."""
    generation = obj.get("metadata", {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or observed is None or observed >= generation


def _messages(obj: dict) -> str:
    return "; ".join(c["message"] for c in (obj.get("status") or {}).get("conditions") or [] if c.get("message"))


def _summary(obj: dict | None) -> str:
    if obj is None:
        return "absent"
    conditions = (obj.get("status") or {}).get("conditions") or []
    parts = [f"{c.get('type')}={c.get('status')}" + (f" ({c.get('reason')})" if c.get("reason") else "")
             for c in conditions]
    return ", ".join(parts) or "no conditions"
