"""Core v1 Services as the Kubernetes API server keeps them: defaults, cluster IPs and node ports allocated
from their ranges (stable per Service, unique in the store), ValidateService's rules and messages, and
kubectl's printer columns.

Nothing routes to a cluster IP or a node port here: they are the records a cluster would hold. What the
reference's ingress answers on is decided by Routes (and their Services: reference.dataplane.serving.routing).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

from reference.apiserver.admission.context import Context
from reference.apiserver.admission.fielderror import FieldError, combine
from reference.apiserver.admission.names import (
    DNS1123_LABEL_MESSAGE,
    dns1035_problems,
    is_dns1123_label,
    is_dns1123_subdomain,
)

RESOURCE = "/services"  # the store key of core Services
SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")  # kubeadm's (and kind's) --service-cluster-ip-range
# The network address and the first one (a cluster's `kubernetes` Service) are never handed out.
FIRST_OFFSET = 2
NODE_PORTS = range(30000, 32768)  # --service-node-port-range
HEADLESS = "None"

TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
PROTOCOLS = ("SCTP", "TCP", "UDP")
AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
_PORT_NAME = re.compile(r"^[-a-z0-9]+$")
_SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                      "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                      "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def needs_cluster_ip(spec: dict) -> bool:
    return spec.get("type", "ClusterIP") in TYPES and spec.get("type") != "ExternalName"


def needs_node_ports(spec: dict) -> bool:
    kind = spec.get("type")
    return kind == "NodePort" or (kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))


def _ports(spec: dict) -> list[dict]:
    return [p for p in spec.get("ports") or [] if isinstance(p, dict)]


def _start(key: str, size: int) -> int:
    """Where the search for a free value begins: the same for the same Service, every time."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % size


def allocate_cluster_ip(key: str, taken: set[str]) -> str | None:
    """The first free address of the range from the Service's own starting point (None: the range is full)."""
    base, size = int(SERVICE_RANGE.network_address) + FIRST_OFFSET, SERVICE_RANGE.num_addresses - FIRST_OFFSET - 1
    start = _start(key, size)
    for step in range(size):
        address = str(ipaddress.ip_address(base + (start + step) % size))
        if address not in taken:
            return address
    return None


def allocate_node_port(key: str, taken: set[int]) -> int | None:
    start = _start(key, len(NODE_PORTS))
    for step in range(len(NODE_PORTS)):
        port = NODE_PORTS[(start + step) % len(NODE_PORTS)]
        if port not in taken:
            return port
    return None


def _others(obj: dict, ctx: Context) -> list[dict]:
    meta = obj["metadata"]
    me = (meta.get("namespace", ""), meta.get("name"))
    return [o for o in ctx.objects(RESOURCE) if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) != me]


def _cluster_ips(services: list[dict]) -> set[str]:
    return {ip for s in services for ip in [(s.get("spec") or {}).get("clusterIP")] if ip and ip != HEADLESS}


def _node_ports(services: list[dict]) -> set[int]:
    return {p["nodePort"] for s in services for p in _ports(s.get("spec") or {}) if p.get("nodePort")}


# Defaulting ---------------------------------------------------------------------------------------

def _keep_allocated(spec: dict, old: dict) -> None:
    """An update keeps what was allocated where the new object leaves it out, and drops it where the
    type no longer uses it (the API server's patchAllocatedValues and dropTypeDependentFields)."""
    if needs_cluster_ip(old) and needs_cluster_ip(spec):
        if not spec.get("clusterIP") and not spec.get("clusterIPs"):
            for key in ("clusterIP", "clusterIPs"):
                if key in old:
                    spec[key] = old[key]
    elif needs_cluster_ip(old):
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            if key in spec and spec[key] == old.get(key):
                del spec[key]
    old_ports = {p.get("name", ""): p.get("nodePort") for p in _ports(old) if p.get("nodePort")}
    if needs_node_ports(old) and needs_node_ports(spec):
        used = {p["nodePort"] for p in _ports(spec) if p.get("nodePort")}
        for port in _ports(spec):
            previous = old_ports.get(port.get("name", ""))
            if not port.get("nodePort") and previous and previous not in used:
                port["nodePort"] = previous
    elif needs_node_ports(old):
        for port in _ports(spec):
            if port.get("nodePort") and port["nodePort"] == old_ports.get(port.get("name", "")):
                del port["nodePort"]


def default_service(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in _ports(spec):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and isinstance(port.get("port"), int):
            port["targetPort"] = port["port"]
    if old is not None:
        _keep_allocated(spec, old.get("spec") or {})
    else:
        obj["status"] = {"loadBalancer": {}}
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if not needs_cluster_ip(spec):
        return
    spec.setdefault("internalTrafficPolicy", "Cluster")
    meta = obj["metadata"]
    key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    others = _others(obj, ctx)
    if not spec.get("clusterIP") and spec.get("clusterIPs"):
        spec["clusterIP"] = spec["clusterIPs"][0]
    if not spec.get("clusterIP"):
        address = allocate_cluster_ip(key, _cluster_ips(others))
        if address:
            spec["clusterIP"] = address
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    if needs_node_ports(spec):
        taken = _node_ports(others) | {p["nodePort"] for p in _ports(spec) if p.get("nodePort")}
        for port in _ports(spec):
            if not port.get("nodePort"):
                found = allocate_node_port(f"{key}/{port.get('port')}/{port.get('protocol')}", taken)
                if found:
                    port["nodePort"] = found
                    taken.add(found)


# Validation ---------------------------------------------------------------------------------------

def _show(value: object) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def _invalid(value: object, path: str, detail: str) -> FieldError:
    return FieldError(f"Invalid value: {_show(value)}: {detail}", [path])


def _unsupported(value: object, allowed: tuple[str, ...], path: str) -> FieldError:
    return FieldError(f"Unsupported value: {_show(value)}: supported values: "
                      + ", ".join(f'"{a}"' for a in allowed), [path])


def _required(path: str) -> FieldError:
    return FieldError("Required value", [path])


def _forbidden(path: str, detail: str) -> FieldError:
    return FieldError(f"Forbidden: {detail}", [path])


def port_name_problems(name: str) -> list[str]:
    """validation.IsValidPortName: an IANA_SVC_NAME."""
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not _PORT_NAME.fullmatch(name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def _port_number(value: object, path: str) -> FieldError | None:
    if isinstance(value, int) and 1 <= value <= 65535:
        return None
    return _invalid(value if value is not None else 0, path, "must be between 1 and 65535, inclusive")


def _validate_port(port: dict, path: str, name_required: bool, names: set[str]) -> list[FieldError | None]:
    errs: list[FieldError | None] = []
    name = port.get("name") or ""
    if name_required and not name:
        errs.append(_required(f"{path}.name"))
    elif name:
        if not is_dns1123_label(name):
            errs.append(_invalid(name, f"{path}.name", DNS1123_LABEL_MESSAGE))
        if name in names:
            errs.append(FieldError(f"Duplicate value: {_show(name)}", [f"{path}.name"]))
        names.add(name)
    errs.append(_port_number(port.get("port"), f"{path}.port"))
    protocol = port.get("protocol")
    if not protocol:
        errs.append(_required(f"{path}.protocol"))
    elif protocol not in PROTOCOLS:
        errs.append(_unsupported(protocol, PROTOCOLS, f"{path}.protocol"))
    target = port.get("targetPort")
    if isinstance(target, str):
        errs += [_invalid(target, f"{path}.targetPort", p) for p in port_name_problems(target)]
    else:
        errs.append(_port_number(target, f"{path}.targetPort"))
    return errs


def _validate_ports(spec: dict) -> list[FieldError | None]:
    errs: list[FieldError | None] = []
    ports = spec.get("ports") or []
    names: set[str] = set()
    seen: set[tuple[object, object]] = set()
    node_ports: set[tuple[object, object]] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            errs.append(_invalid(port, path, "must be an object"))
            continue
        errs += _validate_port(port, path, len(ports) > 1, names)
        key = (port.get("port"), port.get("protocol"))
        if key in seen:
            errs.append(FieldError(f'Duplicate value: {{"port":{_show(key[0])},"protocol":{_show(key[1])}}}', [path]))
        seen.add(key)
        node_port = port.get("nodePort")
        if node_port and spec.get("type") in ("ClusterIP", "ExternalName"):
            errs.append(_forbidden(f"{path}.nodePort", f"may not be used when `type` is '{spec.get('type')}'"))
        elif node_port:
            if (node_port, port.get("protocol")) in node_ports:
                errs.append(FieldError(f"Duplicate value: {node_port}", [f"{path}.nodePort"]))
            node_ports.add((node_port, port.get("protocol")))
    return errs


def _validate_cluster_ip(spec: dict, old: dict | None, taken: set[str]) -> list[FieldError | None]:
    address = spec.get("clusterIP") or ""
    kind = spec.get("type")
    if kind == "ExternalName":
        return [_forbidden("spec.clusterIP", "must be empty for ExternalName services")] if address else []
    errs: list[FieldError | None] = []
    ips = spec.get("clusterIPs") or []
    if ips and ips[0] != address:
        errs.append(_invalid(ips, "spec.clusterIPs", "element [0] must match clusterIP"))
    previous = old.get("clusterIP") if old is not None and needs_cluster_ip(old) else None
    if previous and address != previous:
        return [*errs, _invalid(address, "spec.clusterIP", "field is immutable")]
    if address == HEADLESS:
        if kind in ("NodePort", "LoadBalancer"):
            errs.append(_invalid(address, "spec.clusterIP", f"may not be set to 'None' for {kind} services"))
        return errs
    if not address:
        return [*errs, FieldError(f"Internal error: failed to allocate a serviceIP: range {SERVICE_RANGE} is full",
                                  ["spec.clusterIP"])]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return [*errs, _invalid(address, "spec.clusterIP", "must be empty, 'None', or a valid IP address")]
    if address == previous:
        return errs  # already this Service's
    if parsed not in SERVICE_RANGE:
        errs.append(_invalid(address, "spec.clusterIP", f"failed to allocate IP {address}: the provided IP "
                                                        f"({address}) is not in the valid range. The range of "
                                                        f"valid IPs is {SERVICE_RANGE}"))
    elif address in taken:
        errs.append(_invalid(address, "spec.clusterIP", f"failed to allocate IP {address}: provided IP is already "
                                                        f"allocated"))
    return errs


def _validate_node_ports(spec: dict, old: dict | None, taken: set[int]) -> list[FieldError | None]:
    if not needs_node_ports(spec):
        return []
    mine = {p.get("nodePort") for p in _ports(old or {})} if old is not None and needs_node_ports(old) else set()
    errs: list[FieldError | None] = []
    for i, port in enumerate(spec.get("ports") or []):
        node_port = port.get("nodePort") if isinstance(port, dict) else None
        path = f"spec.ports[{i}].nodePort"
        if not node_port or node_port in mine:
            continue
        if node_port not in NODE_PORTS:
            errs.append(_invalid(node_port, path, f"provided port is not in the valid range. The range of valid "
                                                  f"ports is {NODE_PORTS.start}-{NODE_PORTS.stop - 1}"))
        elif node_port in taken:
            errs.append(_invalid(node_port, path, "provided port is already allocated"))
    return errs


def validate_service(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    """ValidateService and ValidateServiceUpdate: what a cluster refuses, with its messages."""
    name = obj["metadata"].get("name", "")
    errs: list[FieldError | None] = [_invalid(name, "metadata.name", p) for p in dns1035_problems(name)]
    spec = obj.get("spec") or {}
    kind = spec.get("type")
    if kind not in TYPES:
        errs.append(_unsupported(kind, TYPES, "spec.type"))
    if not spec.get("ports") and spec.get("clusterIP") != HEADLESS and kind != "ExternalName":
        errs.append(_required("spec.ports"))
    if kind == "ExternalName":
        external = (spec.get("externalName") or "").removesuffix(".")
        if not external:
            errs.append(_required("spec.externalName"))
        elif not is_dns1123_subdomain(external):
            errs.append(_invalid(spec["externalName"], "spec.externalName", _SUBDOMAIN_MESSAGE))
    errs += _validate_ports(spec)
    affinity = spec.get("sessionAffinity")
    if affinity not in AFFINITIES:
        errs.append(_unsupported(affinity, AFFINITIES, "spec.sessionAffinity"))
    for field in ("externalTrafficPolicy", "internalTrafficPolicy"):
        if spec.get(field) is not None and spec[field] not in TRAFFIC_POLICIES:
            errs.append(_unsupported(spec[field], TRAFFIC_POLICIES, f"spec.{field}"))
    if spec.get("externalTrafficPolicy") and kind not in ("NodePort", "LoadBalancer"):
        errs.append(_invalid(spec["externalTrafficPolicy"], "spec.externalTrafficPolicy",
                             "may only be set for externally-accessible services"))
    if kind in TYPES:
        others = _others(obj, ctx)
        old_spec = (old.get("spec") or {}) if old is not None else None
        errs += _validate_cluster_ip(spec, old_spec, _cluster_ips(others))
        errs += _validate_node_ports(spec, old_spec, _node_ports(others))
    return combine(*errs)


# Printer columns (kubectl's printService) ---------------------------------------------------------

def cluster_ip(service: dict) -> str:
    spec = service.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return ips[0] if ips else "<none>"


def external_ip(service: dict) -> str:
    spec = service.get("spec") or {}
    external = list(spec.get("externalIPs") or [])
    kind = spec.get("type")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        balancers = sorted({i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")})
        return ",".join(balancers + external) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def ports(service: dict) -> str:
    pieces = []
    for port in _ports(service.get("spec") or {}):
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        pieces.append(f"{port.get('port')}{node}/{port.get('protocol', '')}")
    return ",".join(pieces) or "<none>"


def selector(service: dict) -> str:
    labels = (service.get("spec") or {}).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"
