"""A namespace's bounds on Pods, as Kubernetes' LimitRanger and ResourceQuota admission plugins apply them.

LimitRanger first: a `LimitRange` item of type Container gives each container the `default` limits and
`defaultRequest` requests it lacks (`default` stands in for a missing `defaultRequest`), and refuses one
past `max` or under `min`. Then ResourceQuota: each `ResourceQuota` of the namespace bounds the sum over
its Pods that have not ended of `pods`, `requests.cpu`/`cpu`, `requests.memory`/`memory`, `limits.cpu` and
`limits.memory`; a Pod that would pass `hard`, or that does not say how much of a bounded resource it
wants, is refused with 403 Forbidden and Kubernetes' message. Usage is counted from the Pods themselves at
admission (the quota's status, which kubectl shows, is kept by reference.core.resourcequota).
"""

from __future__ import annotations

from decimal import Decimal

from reference.apis.resources import CPU, MEMORY, QuantityError, Requests, format_bytes, format_cpu, quantity
from reference.apiserver.admission.context import Context, Forbidden

COMPUTE = {"requests.cpu": ("requests", CPU), "cpu": ("requests", CPU), "requests.memory": ("requests", MEMORY),
           "memory": ("requests", MEMORY), "limits.cpu": ("limits", CPU), "limits.memory": ("limits", MEMORY)}
TRACKED = ("pods", *COMPUTE)
Usage = Requests  # quota key (pods, requests.cpu, ...) -> the amount; 0 when not named


def parse(value: object) -> Decimal | None:
    try:
        return quantity(value)
    except QuantityError:
        return None


def _in_namespace(ctx: Context, resource: str, namespace: str) -> list[dict]:
    return sorted((o for o in ctx.objects(resource) if o["metadata"].get("namespace") == namespace),
                  key=lambda o: o["metadata"]["name"])


# LimitRanger ----------------------------------------------------------------------------------------

def apply_limit_ranges(pod: dict, ctx: Context) -> None:
    """Fills the containers' missing requests and limits from the namespace's LimitRanges and refuses a
    container outside their min and max (403, as LimitRanger answers)."""
    namespace = pod["metadata"].get("namespace", "")
    items = [item for limit_range in _in_namespace(ctx, "/limitranges", namespace)
             for item in ((limit_range.get("spec") or {}).get("limits") or [])
             if isinstance(item, dict) and item.get("type", "Container") == "Container"]
    if not items:
        return
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.setdefault("resources", {})
        for item in items:
            _default_from(resources, item)
        for item in items:
            problem = _outside(resources, item)
            if problem:
                raise Forbidden("pods", pod["metadata"].get("name", ""), problem)


def _default_from(resources: dict, item: dict) -> None:
    limits = resources.setdefault("limits", {})
    requests = resources.setdefault("requests", {})
    for name, value in (item.get("default") or {}).items():
        limits.setdefault(name, value)
    for name, value in {**(item.get("default") or {}), **(item.get("defaultRequest") or {})}.items():
        if name not in requests:
            requests[name] = limits.get(name, value) if name not in (item.get("defaultRequest") or {}) else value


def _outside(resources: dict, item: dict) -> str | None:
    for name, bound in (item.get("max") or {}).items():
        limit = parse((resources.get("limits") or {}).get(name))
        ceiling = parse(bound)
        if ceiling is not None and (limit is None or limit > ceiling):
            shown = (resources.get("limits") or {}).get(name)
            return (f"maximum {name} usage per Container is {bound}, but limit is {shown}" if limit is not None
                    else f"maximum {name} usage per Container is {bound}.  No limit is specified")
    for name, bound in (item.get("min") or {}).items():
        request = parse((resources.get("requests") or {}).get(name))
        floor = parse(bound)
        if floor is not None and request is not None and request < floor:
            return f"minimum {name} usage per Container is {bound}, but request is {resources['requests'][name]}"
    return None


# ResourceQuota --------------------------------------------------------------------------------------

def pod_usage(pod: dict) -> Usage:
    """What one Pod counts against a quota."""
    usage = Usage({"pods": Decimal(1)})
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        for key, (section, name) in COMPUTE.items():
            value = parse((resources.get(section) or {}).get(name))
            if value is None and section == "requests":  # requests default to limits
                value = parse((resources.get("limits") or {}).get(name))
            if value is not None:
                usage[key] += value
    return usage


def counts(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded") and not pod["metadata"].get(
        "deletionTimestamp")


def namespace_usage(pods: list[dict]) -> Usage:
    total = Usage()
    for pod in pods:
        if counts(pod):
            total.add(pod_usage(pod))
    return total


def show(resource: str, value: Decimal) -> str:
    """A quantity as Kubernetes shows it in quota messages and status: 2, 500m, 64Mi."""
    if resource == "pods":
        return str(int(value))
    return format_cpu(value) if resource.endswith("cpu") else format_bytes(value)


def _unspecified(pod: dict, hard: dict[str, Decimal]) -> list[str]:
    """`<resource> for: <containers>` for each bounded compute resource some container does not set."""
    out = []
    for key in sorted(k for k in hard if k in COMPUTE):
        section, name = COMPUTE[key]
        missing = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []
                   if name not in ((c.get("resources") or {}).get(section) or {})
                   and not (section == "requests" and name in ((c.get("resources") or {}).get("limits") or {}))]
        if missing:
            out.append(f"{key} for: {','.join(missing)}")
    return out


def check_quotas(pod: dict, ctx: Context) -> None:
    """Refuses a new Pod that the namespace's ResourceQuotas do not leave room for (403)."""
    meta = pod["metadata"]
    namespace = meta.get("namespace", "")
    quotas = _in_namespace(ctx, "/resourcequotas", namespace)
    if not quotas:
        return
    used = namespace_usage(_in_namespace(ctx, "/pods", namespace))
    wanted = pod_usage(pod)
    for quota in quotas:
        name = quota["metadata"]["name"]
        hard = {k: v for k, v in ((k, parse(v)) for k, v in ((quota.get("spec") or {}).get("hard") or {}).items())
                if k in TRACKED and v is not None}
        missing = _unspecified(pod, hard)
        if missing:
            raise Forbidden("pods", meta.get("name", ""), f"failed quota: {name}: must specify "
                                   + "; ".join(missing))
        over = [k for k in TRACKED if k in hard and used[k] + wanted[k] > hard[k]]
        if over:
            def listed(values: dict[str, Decimal], keys: list[str] = over) -> str:
                return ",".join(f"{k}={show(k, values[k])}" for k in keys)

            raise Forbidden("pods", meta.get("name", ""), (
                f"exceeded quota: {name}, requested: {listed(wanted)}, used: {listed(used)}, limited: {listed(hard)}"))
