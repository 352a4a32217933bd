"""Knative's networking contract: KIngresses (`networking.internal.knative.dev/v1alpha1` Ingress) as a second
source of routes for the proxy, translated the way net-kourier translates them for Envoy
(pkg/generator/ingress_translator.go):

- an Ingress is ours when its `networking.knative.dev/ingress.class` annotation names our class (an Ingress
  without the annotation is nobody's: Knative's generated reconcilers, and its conformance test
  `ingressclass`, require it; Serving always sets it, from config-network's `ingress-class`);
- every rule is served on the private (cluster-local) listener, ExternalIP rules on the public one too, and,
  when the Ingress has `tls`, on the TLS listener;
- a host's paths are prefixes, the longest first (in their order otherwise); a path matches when its
  prefix starts the request's path and every `headers` entry equals the request's header (an empty `exact`
  asks only for the header to be there);
- `appendHeaders` of the split, then of the path, are *set* on the request (Knative's "set, not append");
  `rewriteHost` replaces the Host; a request whose `K-Network-Hash` is `override` gets the Ingress's hash
  instead (ingress.InsertProbe: the backends' probe handler echoes it, which is how Knative's prober knows
  what an ingress serves);
- a split names a Service and a port (number or name); the Service's port says whether the backend speaks
  h2c (named `h2c` or `http2`, or appProtocol `kubernetes.io/h2c`); its endpoints are the ready addresses of
  its EndpointSlices at the slice port of that port's name, or, for an ExternalName Service, the name (a
  cluster-local name resolved through these same Services);
- a generation is programmed once every split's Service is there with ready endpoints (and its TLS Secrets
  are valid); until then the previous one keeps serving, as Kourier keeps its Envoy snapshot, and the status
  says why it waits. A host that another Ingress already serves is a DomainConflict.
- no timeout and no retries: Knative sets none on a KIngress (a revision's timeout is its queue-proxy's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reference.apis.conditions import all_of, condition, merge
from reference.apis.objects import ready_hosts
from reference.dataplane.serving.routing import NO_TIMEOUT, Redirect, RevisionTarget, Routed, weighted
from reference.dataplane.serving.throttler import Endpoint

CLASS_ANNOTATION = "networking.knative.dev/ingress.class"
HASH_HEADER = "K-Network-Hash"
HASH_OVERRIDE = "override"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
CERTIFICATE_LABEL = "networking.internal.knative.dev/certificate-uid"  # Knative's TLS Secrets carry it
H2C_PORT_NAMES = ("h2c", "http2")
H2C_APP_PROTOCOL = "kubernetes.io/h2c"
EXTERNAL_IP = "ExternalIP"
PUBLIC, PRIVATE, TLS = "public", "private", "tls"  # the listeners

Key = tuple[str, str]  # (namespace, name)


# The Ingress's spec, as Knative's Go types see it --------------------------------------------------------

def with_defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    """IngressSpec.SetDefaults: a rule's visibility is ExternalIP, a path's only split takes 100 percent."""
    out = json.loads(json.dumps(spec))
    for rule in out.get("rules") or []:
        rule["visibility"] = rule.get("visibility") or EXTERNAL_IP
        for path in (rule.get("http") or {}).get("paths") or []:
            splits = path.get("splits") or []
            if len(splits) == 1 and not splits[0].get("percent"):
                splits[0]["percent"] = 100
    return out


def _omitempty(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v not in (None, "", 0, [], {}, False)}


def _headers_map(value: Any) -> dict[str, str] | None:
    return {k: str(v) for k, v in sorted((value or {}).items())} or None


def _go_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with the fields, order and omissions of Go's json.Marshal(v1alpha1.IngressSpec)."""

    def split(s: Mapping[str, Any]) -> dict[str, Any]:
        port = s.get("servicePort", 0)
        return {"serviceNamespace": s.get("serviceNamespace") or "", "serviceName": s.get("serviceName") or "",
                "servicePort": port if isinstance(port, int | str) else 0,
                **_omitempty([("percent", int(s.get("percent") or 0)),
                              ("appendHeaders", _headers_map(s.get("appendHeaders")))])}

    def path(p: Mapping[str, Any]) -> dict[str, Any]:
        headers = {k: {"exact": (v or {}).get("exact") or ""} for k, v in sorted((p.get("headers") or {}).items())}
        splits = p.get("splits")
        return {**_omitempty([("path", p.get("path")), ("rewriteHost", p.get("rewriteHost")),
                              ("headers", headers or None)]),
                "splits": None if splits is None else [split(s) for s in splits],
                **_omitempty([("appendHeaders", _headers_map(p.get("appendHeaders")))])}

    def rule(r: Mapping[str, Any]) -> dict[str, Any]:
        http = r.get("http")
        paths = None if http is None else http.get("paths")
        return _omitempty([("hosts", list(r.get("hosts") or [])), ("visibility", r.get("visibility")),
                           ("http", None if http is None else {"paths": None if paths is None
                                                               else [path(p) for p in paths]})])

    def tls(t: Mapping[str, Any]) -> dict[str, Any]:
        return _omitempty([("hosts", list(t.get("hosts") or [])), ("secretName", t.get("secretName")),
                           ("secretNamespace", t.get("secretNamespace"))])

    return _omitempty([("tls", [tls(t) for t in spec.get("tls") or []]),
                       ("rules", [rule(r) for r in spec.get("rules") or []]),
                       ("httpOption", spec.get("httpOption"))])


def go_json(value: Any) -> str:
    """Go's encoding/json text of `value`: compact, with <, >, & and the line separators escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def ingress_hash(ingress: Mapping[str, Any]) -> str:
    """ingress.ComputeHash: sha256 of the (defaulted) spec's JSON, then the namespace and the name."""
    meta = ingress.get("metadata") or {}
    spec = with_defaults(ingress.get("spec") or {})
    data = go_json(_go_spec(spec)).encode() + (meta.get("namespace") or "").encode() + (meta.get("name") or "").encode()
    return hashlib.sha256(data).hexdigest()


def is_ours(ingress: Mapping[str, Any], ingress_class: str) -> bool:
    return ((ingress.get("metadata") or {}).get("annotations") or {}).get(CLASS_ANNOTATION) == ingress_class


# Routes ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackendRef:
    """A split's backend: a Service's port (its number, or its name)."""

    namespace: str
    name: str
    port: int | str


@dataclass(frozen=True)
class SplitRoute:
    backend: BackendRef
    percent: int
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PathRoute:
    prefix: str
    matches: tuple[tuple[str, str], ...]  # header -> exact value ("" : present)
    splits: tuple[SplitRoute, ...]
    headers: tuple[tuple[str, str], ...]  # appendHeaders of the path
    rewrite_host: str
    hash: str
    redirect: bool = False  # HTTPOption Redirected, on plain HTTP

    def matches_request(self, path: str, headers: Mapping[str, str]) -> bool:
        if not path.startswith(self.prefix):
            return False
        return all((name in headers) if not value else headers.get(name) == value for name, value in self.matches)


@dataclass(frozen=True)
class Program:
    """An Ingress generation translated: host -> paths, per listener."""

    routes: dict[str, dict[str, tuple[PathRoute, ...]]]
    backends: frozenset[BackendRef]
    hosts: frozenset[str]
    tls: tuple[tuple[str, Key], ...]  # SNI host -> its Secret


def translate(ingress: Mapping[str, Any]) -> Program:
    """The routes of an Ingress (pure: what its spec says, whatever the cluster has)."""
    spec = with_defaults(ingress.get("spec") or {})
    digest = ingress_hash(ingress)
    redirected = spec.get("httpOption") == "Redirected"
    has_tls = bool(spec.get("tls"))
    routes: dict[str, dict[str, list[PathRoute]]] = {PUBLIC: {}, PRIVATE: {}, TLS: {}}
    backends: set[BackendRef] = set()
    hosts: set[str] = set()
    namespace = (ingress.get("metadata") or {}).get("namespace") or ""
    for rule in spec.get("rules") or []:
        paths = []
        for path in (rule.get("http") or {}).get("paths") or []:
            splits = []
            for split in path.get("splits") or []:
                port = split.get("servicePort", 80)
                ref = BackendRef(split.get("serviceNamespace") or namespace, split.get("serviceName") or "",
                                 port if isinstance(port, int | str) else 80)
                backends.add(ref)
                splits.append(SplitRoute(ref, int(split.get("percent") or 0),
                                          tuple(sorted((split.get("appendHeaders") or {}).items()))))
            if splits:
                paths.append(PathRoute(
                    path.get("path") or "/",
                    tuple(sorted((k, (v or {}).get("exact") or "") for k, v in (path.get("headers") or {}).items())),
                    tuple(splits), tuple(sorted((path.get("appendHeaders") or {}).items())),
                    path.get("rewriteHost") or "", digest))
        if not paths:
            continue
        external = rule.get("visibility") == EXTERNAL_IP
        plain = [replace(p, redirect=True) for p in paths] if redirected and external else paths
        for host in rule.get("hosts") or ["*"]:
            host = host.lower()
            hosts.add(host)
            routes[PRIVATE].setdefault(host, []).extend(plain)
            if external:
                routes[PUBLIC].setdefault(host, []).extend(plain)
                if has_tls:
                    routes[TLS].setdefault(host, []).extend(paths)
    tls = tuple((host.lower(), (t.get("secretNamespace") or namespace, t.get("secretName") or ""))
                for t in spec.get("tls") or [] for host in t.get("hosts") or [])
    return Program({listener: {h: tuple(ps) for h, ps in by_host.items()} for listener, by_host in routes.items()},
                   frozenset(backends), frozenset(hosts), tls)


def _by_specificity(paths: list[PathRoute]) -> tuple[PathRoute, ...]:
    """Longer prefixes first, the order kept among equals (Kourier's sortRoutesByPathSpecificity)."""
    return tuple(sorted(paths, key=lambda p: -len(p.prefix)))


# The cluster's Services and endpoints ------------------------------------------------------------------

@dataclass
class Backends:
    """Services and their EndpointSlices, as the informers last saw them."""

    services: dict[Key, dict] = field(default_factory=dict)
    slices: dict[Key, dict[str, dict]] = field(default_factory=dict)  # Service -> slice name -> slice
    cluster_domain: str = "cluster.local"

    def set_service(self, kind: str, service: dict) -> None:
        meta = service["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        if kind == "DELETED":
            self.services.pop(key, None)
        else:
            self.services[key] = service

    def set_slice(self, kind: str, endpoint_slice: dict) -> Key | None:
        meta = endpoint_slice["metadata"]
        owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not owner:
            return None
        key = (meta.get("namespace") or "", owner)
        slices = self.slices.setdefault(key, {})
        if kind == "DELETED":
            slices.pop(meta["name"], None)
            if not slices:
                del self.slices[key]
        else:
            slices[meta["name"]] = endpoint_slice
        return key

    def port_of(self, ref: BackendRef) -> dict | None:
        service = self.services.get((ref.namespace, ref.name))
        ports = ((service or {}).get("spec") or {}).get("ports") or []
        return next((p for p in ports if (isinstance(ref.port, int) and p.get("port") == ref.port)
                     or (isinstance(ref.port, str) and p.get("name") == ref.port)), None)

    def speaks_h2c(self, ref: BackendRef) -> bool:
        port = self.port_of(ref) or {}
        return port.get("name") in H2C_PORT_NAMES or port.get("appProtocol") == H2C_APP_PROTOCOL

    def _cluster_service(self, name: str) -> Key | None:
        """The Service a cluster-local DNS name names (`<svc>.<ns>.svc[.<domain>]`), if it is one."""
        for suffix in (f".svc.{self.cluster_domain}", ".svc"):
            if name.endswith(suffix):
                parts = name[: -len(suffix)].split(".")
                if len(parts) == 2:
                    return parts[1], parts[0]
        return None

    def endpoints(self, ref: BackendRef, depth: int = 0) -> list[Endpoint] | None:
        """The backend's ready endpoints; None while its Service is not there."""
        service = self.services.get((ref.namespace, ref.name))
        if service is None or depth > 3:
            return None
        spec = service.get("spec") or {}
        port = self.port_of(ref)
        number = (port or {}).get("port") or (ref.port if isinstance(ref.port, int) else 80)
        if spec.get("type") == "ExternalName":
            name = (spec.get("externalName") or "").rstrip(".").lower()
            inside = self._cluster_service(name)
            if inside is not None:
                return self.endpoints(BackendRef(inside[0], inside[1], number), depth + 1)
            return [Endpoint(name, f"{name}:{number}")]
        target = (port or {}).get("targetPort", number)
        found: dict[str, Endpoint] = {}
        for endpoint_slice in (self.slices.get((ref.namespace, ref.name)) or {}).values():
            if endpoint_slice.get("addressType") not in ("IPv4", "IPv6"):
                continue
            slice_port = next((p.get("port") for p in endpoint_slice.get("ports") or []
                               if (p.get("name") or "") == ((port or {}).get("name") or "")), None)
            at = slice_port or (target if isinstance(target, int) else None)
            if not at:
                continue
            for _, host in ready_hosts(endpoint_slice):
                found[f"{host}:{at}"] = Endpoint(f"{host}:{at}", f"{host}:{at}")
        return sorted(found.values(), key=lambda e: e.name)

    def missing(self, ref: BackendRef) -> str | None:
        """Why the backend cannot take traffic yet (None: it can)."""
        service = self.services.get((ref.namespace, ref.name))
        if service is None:
            return f"Service {ref.namespace}/{ref.name} not yet created"
        if (service.get("spec") or {}).get("type") == "ExternalName":
            return None
        if not self.endpoints(ref):
            return f"Service {ref.namespace}/{ref.name} has no ready endpoints"
        return None


# The table ------------------------------------------------------------------------------------------------

@dataclass
class IngressState:
    obj: dict
    program: Program | None = None  # what serves now
    generation: int | None = None  # the generation `program` is of
    waiting: str = ""  # why the current generation is not programmed
    conflict: str = ""


class KIngressTable:
    """The KIngresses of our class, programmed into routes over their backends' endpoints; a route source of
    the proxy's RoutingTable."""

    def __init__(self, ingress_class: str, public_domain: str, private_domain: str) -> None:
        self.ingress_class = ingress_class
        self.public_domain = public_domain
        self.private_domain = private_domain
        # A TLS Secret -> why it cannot be served (None: it can); the TLS listener's certificates say
        self.secret_problem: Callable[[Key], str | None] = lambda key: None
        self.backends = Backends()
        self.ingresses: dict[Key, IngressState] = {}
        self.targets: dict[BackendRef, RevisionTarget] = {}
        self.routes: dict[str, dict[str, tuple[PathRoute, ...]]] = {PUBLIC: {}, PRIVATE: {}, TLS: {}}
        self.changed: set[Key] = set()  # Ingresses whose status may need writing
        self.on_change: Callable[[], None] = lambda: None  # called when `changed` grew

    # Informer handlers ------------------------------------------------------------------------------

    def set_ingress(self, kind: str, ingress: dict, old: dict | None = None) -> None:
        meta = ingress["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        if kind == "DELETED" or not is_ours(ingress, self.ingress_class) or meta.get("deletionTimestamp"):
            if self.ingresses.pop(key, None) is not None:
                self._rebuild()
                self._retry_waiting()  # a host it held may now go to another
            return
        state = self.ingresses.setdefault(key, IngressState(ingress))
        state.obj = ingress
        self._program(key, state)
        self._notify(key)

    def set_service(self, kind: str, service: dict, old: dict | None = None) -> None:
        self.backends.set_service(kind, service)
        self._refresh_targets()
        self._retry_waiting()

    def set_endpoint_slice(self, kind: str, endpoint_slice: dict, old: dict | None = None) -> None:
        if self.backends.set_slice(kind, endpoint_slice) is not None:
            self._refresh_targets()
            self._retry_waiting()

    def secrets_changed(self) -> None:
        self._retry_waiting()

    # Programming ---------------------------------------------------------------------------------------

    def _program(self, key: Key, state: IngressState) -> None:
        generation = int(state.obj["metadata"].get("generation") or 0)
        if state.generation == generation and state.program is not None:
            return
        program = translate(state.obj)
        state.conflict = self._conflict(key, program)
        problems = [p for p in (self.backends.missing(ref) for ref in sorted(program.backends, key=str)) if p]
        problems += [p for p in (self.secret_problem(secret) for secret in sorted({s for _, s in program.tls})) if p]
        state.waiting = "; ".join(problems)
        if state.conflict or state.waiting:
            return
        state.program, state.generation = program, generation
        for ref in program.backends:
            self._target(ref)
        self._rebuild()

    def _conflict(self, key: Key, program: Program) -> str:
        """A host of this Ingress that another one of ours already serves (the first keeps it, as in Kourier)."""
        for other_key, other in self.ingresses.items():
            if other_key == key or other.program is None:
                continue
            shared = sorted(program.hosts & other.program.hosts)
            if shared:
                return f"Ingress rejected: host {shared[0]} is already served by {other_key[0]}/{other_key[1]}"
        return ""

    @staticmethod
    def _age(ingress: dict, key: Key) -> tuple[str, str, str]:
        return (ingress["metadata"].get("creationTimestamp") or "", *key)

    def _retry_waiting(self) -> None:
        for key, state in list(self.ingresses.items()):
            generation = int(state.obj["metadata"].get("generation") or 0)
            if state.generation != generation:
                before = (state.waiting, state.conflict)
                self._program(key, state)
                if (state.waiting, state.conflict) != before or state.generation == generation:
                    self._notify(key)

    def _notify(self, key: Key) -> None:
        self.changed.add(key)
        self.on_change()

    def _rebuild(self) -> None:
        merged: dict[str, dict[str, list[PathRoute]]] = {PUBLIC: {}, PRIVATE: {}, TLS: {}}
        used: set[BackendRef] = set()
        for _, state in sorted(self.ingresses.items(), key=lambda kv: self._age(kv[1].obj, kv[0])):
            if state.program is None:
                continue
            used |= state.program.backends
            for listener, by_host in state.program.routes.items():
                for host, paths in by_host.items():
                    merged[listener].setdefault(host, []).extend(paths)
        self.routes = {listener: {h: _by_specificity(ps) for h, ps in by_host.items()}
                       for listener, by_host in merged.items()}
        for ref in set(self.targets) - used:
            self.targets.pop(ref).throttler.close()

    def _target(self, ref: BackendRef) -> RevisionTarget:
        target = self.targets.get(ref)
        if target is None:
            target = self.targets[ref] = RevisionTarget(ref.namespace, ref.name, timeout=NO_TIMEOUT, holds=False,
                                                        service=ref.name)
            self._refresh(ref, target)
        return target

    def _refresh_targets(self) -> None:
        for ref, target in self.targets.items():
            self._refresh(ref, target)

    def _refresh(self, ref: BackendRef, target: RevisionTarget) -> None:
        target.h2c = self.backends.speaks_h2c(ref)
        now = {e.name: e for e in self.backends.endpoints(ref) or []}
        for name in set(target.throttler.endpoints) - set(now):
            target.throttler.remove(name)
        for endpoint in now.values():
            if endpoint.name not in target.throttler.endpoints:
                target.throttler.upsert(endpoint)

    @property
    def tls_hosts(self) -> dict[str, Key]:
        """SNI host -> the Secret of its certificate, for the programmed Ingresses."""
        return {host: secret for state in self.ingresses.values() if state.program is not None
                for host, secret in state.program.tls}

    # Routing ---------------------------------------------------------------------------------------------

    def route(self, host: str, target: str, headers: Mapping[str, str], private: bool,
              secure: bool) -> Routed | Redirect | None:
        listener = PRIVATE if private else TLS if secure else PUBLIC
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.lower()
        by_host = self.routes[listener]
        paths = by_host.get(name) or by_host.get("*") or ()
        path = target.split("?", 1)[0]
        for route in paths:
            if not route.matches_request(path, headers):
                continue
            if route.redirect:
                return Redirect(f"https://{name}{target}")
            split = weighted(route.splits, lambda s: s.percent)
            backend = self.targets.get(split.backend)
            if backend is None:
                return None
            sets = dict(split.headers)
            sets.update(route.headers)  # the path's win over the split's, as Envoy applies them
            if headers.get(HASH_HEADER) == HASH_OVERRIDE:
                sets[HASH_HEADER] = route.hash
            return Routed(backend, tuple(sets.items()), route.rewrite_host or None)
        return None

    # Status ------------------------------------------------------------------------------------------------

    def desired_status(self, key: Key) -> dict | None:
        """The status this Ingress should have (None: not ours)."""
        state = self.ingresses.get(key)
        if state is None:
            return None
        return ingress_status(state, self.public_domain, self.private_domain)


def ingress_status(state: IngressState, public_domain: str, private_domain: str) -> dict:
    """NetworkConfigured, LoadBalancerReady and Ready, and the load balancers once programmed (Kourier's
    ReconcileKind with its status prober: ready once this generation serves)."""
    current = state.obj.get("status") or {}
    generation = int(state.obj["metadata"].get("generation") or 0)
    network = condition("NetworkConfigured", True)
    if state.conflict:
        balancer = condition("LoadBalancerReady", False, "DomainConflict", state.conflict)
    elif state.generation == generation and state.program is not None:
        balancer = condition("LoadBalancerReady", True)
    else:
        balancer = condition("LoadBalancerReady", None, "Uninitialized", "Waiting for load balancer to be ready"
                             + (f": {state.waiting}" if state.waiting else ""))
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": merge([network, balancer, all_of("Ready", [network, balancer])],
                            current.get("conditions"))}
    if balancer["status"] == "True":
        status["publicLoadBalancer"] = {"ingress": [{"domainInternal": public_domain}]}
        status["privateLoadBalancer"] = {"ingress": [{"domainInternal": private_domain}]}
    else:
        for lb in ("publicLoadBalancer", "privateLoadBalancer"):
            if current.get(lb):
                status[lb] = current[lb]
    return status


def status_differs(ingress: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    current = ingress.get("status") or {}
    return any(current.get(k) != desired.get(k) for k in
               ("observedGeneration", "conditions", "publicLoadBalancer", "privateLoadBalancer"))
