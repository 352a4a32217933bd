"""ApiServerSource: a CloudEvent for each change to the objects it watches, as Knative's apiserver adapter sends
them. The adapter runs in the platform's process and watches the API server's own store.

Like client-go's reflector feeding the adapter's store, the objects that exist when the adapter starts (or
re-lists) send nothing; each later add, update and delete of a watched object (of `resources[].apiVersion/kind`,
in `status.namespaces`, matching the resource's `selector`, controlled by an object of `owner` when given,
passing `filters` when the new-apiserversource-filters feature is on) sends one event, in order:

- type `dev.knative.apiserver.resource.{add,update,delete}` with the object as data (mode Resource), or
  `dev.knative.apiserver.ref.{add,update,delete}` with its ObjectReference (mode Reference);
- source: the API server's URL; subject: the object's self link (`/apis/v1/namespaces/NS/events/NAME`);
  extensions kind, apiversion, name and namespace; a fresh UUID id; the time of sending; application/json;
  `ceOverrides` extensions; retried 5 times backing off exponentially from 50 ms.

The controller resolves the sink, lists the namespaces `namespaceSelector` selects (the source's own namespace
without one; all of them for an empty one), checks that `serviceAccountName` may get, list and watch each
resource there (RBAC over the stored Roles and bindings; the annotation
`features.knative.dev/apiserversource-skip-permissions-check: "true"` skips the check) and sets Knative's
conditions: SinkProvided, SufficientPermissions, Deployed, OIDCIdentityCreated, Ready.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from reference.apis import conditions, selectors
from reference.apis.objects import is_deleting
from reference.apiserver.kinds import Kind
from reference.apiserver.store import Store
from reference.auth.provider import TokenProvider
from reference.cloudevents.codec import Event
from reference.cloudevents.delivery import DeliverySpec, Dispatcher, Route, direct
from reference.cloudevents.filters import compile_dialect
from reference.core.rbac import allowed
from reference.eventing import identity
from reference.eventing.resolver import Unresolvable, destination_watches, resolve, resolve_audience
from reference.reconciler.controller import Controller, Key, Watch, own_key

log = logging.getLogger("kproof.sources")

GROUP, KIND = "sources.knative.dev", "ApiServerSource"
RESOURCE_TYPES = ("dev.knative.apiserver.resource.add", "dev.knative.apiserver.resource.update",
                  "dev.knative.apiserver.resource.delete")
REF_TYPES = ("dev.knative.apiserver.ref.add", "dev.knative.apiserver.ref.update", "dev.knative.apiserver.ref.delete")
SEND_SPEC = DeliverySpec(retry=5, delay=0.05)  # ContextWithRetriesExponentialBackoff(50ms, 5)
SKIP_PERMISSIONS = "features.knative.dev/apiserversource-skip-permissions-check"
VERBS = ("get", "list", "watch")
UNRESOLVED_RETRY = 2.0
NEW_FILTERS = "new-apiserversource-filters"


def guess_resource(kind: str) -> str:
    """meta.UnsafeGuessKindToResource: the plural Kubernetes guesses from a kind."""
    singular = kind.lower()
    if not singular or singular.endswith("endpoints"):
        return singular
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y"):
        return singular[:-1] + "ies"
    return singular + "s"


def self_link(api_version: str, kind: str, namespace: str, name: str) -> str:
    """createSelfLink: `/apis/<apiVersion>/namespaces/<ns>/<guessed plural>/<name>` (core kinds too)."""
    version = api_version
    if "." in version and "/" not in version:
        version += "/versionUnknown"
    return f"/apis/{version}/namespaces/{namespace}/{guess_resource(kind)}/{name}"


def object_reference(obj: dict) -> dict:
    """corev1.ObjectReference as Go marshals it: kind, namespace, name, apiVersion (empty ones left out)."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
           "apiVersion": obj.get("apiVersion", "")}
    return {k: v for k, v in ref.items() if v}


def make_event(change: str, obj: dict, source: str, reference_mode: bool, overrides: dict[str, str] | None = None,
               event_id: str | None = None, time: str | None = None) -> Event:
    """The event for `change` (add, update or delete) of `obj`."""
    meta = obj.get("metadata") or {}
    index = ("add", "update", "delete").index(change)
    data = object_reference(obj) if reference_mode else obj
    attributes = {**{k: str(v) for k, v in (overrides or {}).items()}, "specversion": "1.0",
                  "id": event_id or str(uuid.uuid4()), "type": (REF_TYPES if reference_mode else RESOURCE_TYPES)[index],
                  "source": source, "subject": self_link(obj.get("apiVersion", ""), obj.get("kind", ""),
                                                         meta.get("namespace", ""), meta.get("name", "")),
                  "datacontenttype": "application/json", "kind": obj.get("kind", ""),
                  "apiversion": obj.get("apiVersion", ""), "name": meta.get("name", ""),
                  "namespace": meta.get("namespace", "")}
    if time:
        attributes["time"] = time
    return Event(attributes, json.dumps(data, separators=(",", ":")).encode())


def owner_passes(owner: dict | None, obj: dict) -> bool:
    """controllerFilter: with an owner spec, only objects whose controller is of that apiVersion and kind."""
    if owner is None:
        return True
    controller = next((r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")),
                      None)
    return controller is not None and (not owner.get("apiVersion") or owner["apiVersion"] == controller.get(
        "apiVersion")) and (not owner.get("kind") or owner["kind"] == controller.get("kind"))


def change_of(event_type: str, obj: dict, old: dict | None, selector: dict | None) -> str | None:
    """What a store event is to a watch with a label selector (an object entering it is added, one leaving it
    deleted), or None when the watch does not see it."""
    def seen(o: dict | None) -> bool:
        return o is not None and (selector is None or selectors.matches(selector, o["metadata"].get("labels")))
    now, before = seen(obj), seen(old)
    if event_type == "ADDED":
        return "add" if now else None
    if event_type == "DELETED":
        return "delete" if now or before else None
    if now:
        return "update" if before or old is None else "add"
    return "delete" if before else None


@dataclass
class Adapter:
    """One source's running watches and its sender."""

    identity: tuple
    store: Store | None = None
    watchers: list = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for watcher in self.watchers:  # also those whose task never began
            assert self.store is not None
            self.store.unwatch(watcher)


@dataclass(frozen=True)
class Plan:
    """What an adapter watches and where it sends."""

    source: dict
    sink: str
    audience: str | None
    service_account: str | None
    namespaces: tuple[str, ...] | None  # None: every namespace
    kinds: tuple[tuple[Kind, dict | None], ...]  # (kind, label selector)


class ApiServerSourceReconciler(Controller):
    name = "apiserversource-controller"

    def __init__(self, registry, route: Route = direct, api_url: str = "https://kubernetes.default.svc",
                 tokens: TokenProvider | None = None) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require(GROUP, "v1", "apiserversources")
        self.namespaces = registry.kinds.require("", "v1", "namespaces")
        self.route = route
        self.api_url = api_url  # the event source: the API server's address, as the adapter's rest config has it
        self.tokens = tokens
        self.adapters: dict[Key, Adapter] = {}
        self._session: aiohttp.ClientSession | None = None

    def watches(self) -> list[Watch]:
        def every(_: dict) -> list[Key]:
            return [(e.obj["metadata"]["namespace"], e.obj["metadata"]["name"])
                    for e in self.registry.store.entries(self.kind.resource)]
        rbac = [self.registry.kinds.require("rbac.authorization.k8s.io", "v1", plural)
                for plural in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")]
        return [Watch(self.kind, own_key), Watch(self.namespaces, every), *(Watch(k, every) for k in rbac),
                *destination_watches(self.registry, self.kind), *identity.identity_watches(self.registry, self.kind)]

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            for key in list(self.adapters):
                self._stop(key)
            if self._session is not None:
                await self._session.close()

    def _stop(self, key: Key) -> None:
        adapter = self.adapters.pop(key, None)
        if adapter is not None:
            adapter.stop()

    # The adapter ----------------------------------------------------------------------------------------

    def _dispatcher(self) -> Dispatcher:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return Dispatcher(self._session, self.route)

    def _start(self, key: Key, plan: Plan, identity_of: tuple) -> None:
        """Registers the watches at once (nothing after Ready is missed), then follows them in tasks."""
        store = self.registry.store
        queue: asyncio.Queue[Event] = asyncio.Queue()
        spec = plan.source.get("spec") or {}
        overrides = (spec.get("ceOverrides") or {}).get("extensions") or {}
        reference_mode = spec.get("mode", "Reference") == "Reference"
        filtering = self.registry.read_config(*identity.FEATURES).get(NEW_FILTERS, "").lower() == "enabled"
        filters = [compile_dialect(f) for f in spec.get("filters") or []] if filtering else []
        adapter = Adapter(identity_of, store)
        for kind, selector in plan.kinds:
            scopes: tuple[str | None, ...] = plan.namespaces if plan.namespaces is not None else (None,)
            for namespace in scopes:
                watcher = store.watch(kind.resource, namespace, None)
                adapter.watchers.append(watcher)
                adapter.tasks.append(asyncio.create_task(self._watch_resource(
                    store, watcher, selector, spec.get("owner"), reference_mode, overrides, filters, queue)))
        adapter.tasks.append(asyncio.create_task(self._send_all(plan, queue), name=f"apiserversource {key}"))
        self.adapters[key] = adapter

    async def _watch_resource(self, store: Store, watcher, selector: dict | None, owner: dict | None,
                              reference_mode: bool, overrides: dict, filters: list[Callable[[Event], bool]],
                              queue: asyncio.Queue) -> None:
        try:
            async for change in store.events(watcher):
                what = change_of(change.type, change.obj, change.old, selector)
                if what is None or not owner_passes(owner, change.obj):
                    continue
                event = make_event(what, change.obj, self.api_url, reference_mode, overrides)
                if all(test(event) for test in filters):
                    queue.put_nowait(event)
        finally:
            store.unwatch(watcher)

    async def _send_all(self, plan: Plan, queue: asyncio.Queue) -> None:
        namespace = plan.source["metadata"]["namespace"]
        while True:
            event = await queue.get()
            event.attributes["time"] = _now_rfc3339()
            authorization = await identity.sender_authorization(self.tokens, namespace, plan.service_account,
                                                                plan.audience)
            outcome = await self._dispatcher().deliver(event, plan.sink, SEND_SPEC, prefer_reply=False,
                                                       namespace=namespace, authorization=authorization)
            if not outcome.delivered:
                log.warning("apiserversource %s/%s: event %s to %s lost after %d attempt(s): %s", namespace,
                            plan.source["metadata"]["name"], event.id, plan.sink, outcome.attempts, outcome.status)

    # Reconciling ----------------------------------------------------------------------------------------

    def _namespaces(self, source: dict) -> tuple[list[str], bool]:
        """(status.namespaces, whether every namespace is watched)."""
        selector = (source.get("spec") or {}).get("namespaceSelector")
        if selector is None:
            return [source["metadata"]["namespace"]], False
        names = sorted(e.obj["metadata"]["name"] for e in self.registry.store.entries(self.namespaces.resource)
                       if selectors.matches(selector, e.obj["metadata"].get("labels")))
        every = not (selector.get("matchLabels") or selector.get("matchExpressions"))
        return names, every

    def _missing_permissions(self, source: dict, namespaces: list[str]) -> str:
        spec = source.get("spec") or {}
        user = f"system:serviceaccount:{source['metadata']['namespace']}:{spec.get('serviceAccountName') or 'default'}"
        missing = []
        for resource in spec.get("resources") or []:
            api_version = resource.get("apiVersion", "")
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            plural = guess_resource(resource.get("kind", ""))
            for namespace in namespaces:
                verbs = [v for v in VERBS if not allowed(self.registry.store, user, v, group, plural, namespace)]
                if verbs:
                    missing.append(f'{", ".join(verbs)} resource "{plural}" in API group "{group}" in Namespace '
                                   f'"{namespace}"')
        return f"User {user} cannot {', '.join(missing)}" if missing else ""

    def _kinds(self, source: dict) -> list[tuple[Kind, dict | None]]:
        found = []
        for resource in (source.get("spec") or {}).get("resources") or []:
            kind = self.registry.kinds.by_kind(resource.get("apiVersion", ""), resource.get("kind", ""))
            if kind is None:
                log.error("apiserversource %s/%s: could not retrieve information about resource %s %s: it doesn't "
                          "exist. skipping...", source["metadata"]["namespace"], source["metadata"]["name"],
                          resource.get("apiVersion"), resource.get("kind"))
                continue
            found.append((kind, resource.get("selector")))
        return found

    async def reconcile(self, key: Key) -> float | None:
        source = self.get(self.kind, *key)
        if source is None or is_deleting(source):
            self._stop(key)
            return None
        spec = source.get("spec") or {}
        flags = identity.features(self.registry)
        previous = source.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "sinkUri", "sinkAudience", "auth")}
        status["observedGeneration"] = source["metadata"].get("generation")
        account, oidc = identity.ensure_identity(self, source, GROUP, KIND, flags)
        if account:
            status["auth"] = {"serviceAccountName": account}
        parts = [oidc]
        again: float | None = None
        try:
            sink = resolve(spec.get("sink"), key[0], self.registry.store, self.registry.kinds)
        except Unresolvable:
            self._stop(key)
            parts += [conditions.condition("SinkProvided", False, "NotFound"),
                      conditions.condition("SufficientPermissions", None), conditions.condition("Deployed", None)]
            again = UNRESOLVED_RETRY
        else:
            status["sinkUri"] = sink
            audience = resolve_audience(spec.get("sink"), key[0], self.registry.store, self.registry.kinds)
            if audience:
                status["sinkAudience"] = audience
            parts.append(conditions.condition("SinkProvided", True))
            namespaces, every = self._namespaces(source)
            status["namespaces"] = namespaces
            skip = (source["metadata"].get("annotations") or {}).get(SKIP_PERMISSIONS) == "true"
            missing = "" if skip else self._missing_permissions(source, namespaces)
            if missing:
                self._stop(key)
                parts += [conditions.condition("SufficientPermissions", False, "", missing),
                          conditions.condition("Deployed", None)]
            else:
                parts.append(conditions.condition("SufficientPermissions", True))
                plan = Plan(source, sink, audience if flags.oidc else None, account,
                            None if every else tuple(namespaces), tuple(self._kinds(source)))
                wanted = (source["metadata"]["uid"], source["metadata"].get("generation"), sink, plan.namespaces,
                          plan.audience, account, self.registry.read_config(*identity.FEATURES).get(NEW_FILTERS))
                current = self.adapters.get(key)
                if current is None or current.identity != wanted:
                    self._stop(key)
                    self._start(key, plan, wanted)
                parts.append(conditions.condition("Deployed", True))
        types = REF_TYPES if spec.get("mode", "Reference") == "Reference" else RESOURCE_TYPES
        status["ceAttributes"] = [{"type": t, "source": self.api_url} for t in types]
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)], previous.get("conditions"))
        self.write_status(self.kind, source, status)
        return again


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
