"""Kubernetes' rules for a container's `resources` (ValidateResourceRequirements), shared by Pods and
by Knative's PodSpec (where a cluster finds the same errors when it creates the Deployment).

Quantities must parse and be non-negative; extended resources (nvidia.com/gpu, aliyun.com/gpu-mem)
are whole numbers, cannot be overcommitted (a request must equal its limit) and need a limit.
Paths are relative to the container's `resources`.
"""

from __future__ import annotations

from decimal import Decimal

from reference.apis.resources import NATIVE, QuantityError, is_extended, quantity
from reference.apiserver.admission.fielderror import FieldError, combine

QUANTITY_PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


def _known_name(name: str) -> bool:
    return name in NATIVE or name.startswith("hugepages-") or "/" in name


def _invalid(value: object, path: str, detail: str) -> FieldError:
    return FieldError(f'Invalid value: "{value}": {detail}', [path])


def validate_requirements(resources: dict) -> FieldError | None:
    errs: list[FieldError | None] = []
    sections = {s: resources.get(s) or {} for s in ("limits", "requests")}
    parsed: dict[tuple[str, str], Decimal] = {}
    for section, values in sections.items():
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            here = f"{section}[{name}]"
            if not _known_name(name):
                errs.append(_invalid(name, here, "must be a standard resource type or fully qualified"))
                continue
            try:
                amount = quantity(value)
            except QuantityError:
                errs.append(_invalid(value, here, f"quantities must match the regular expression "
                                                  f"'{QUANTITY_PATTERN}'"))
                continue
            if amount < 0:
                errs.append(_invalid(value, here, "must be greater than or equal to 0"))
            elif is_extended(name) and amount != amount.to_integral_value():
                errs.append(_invalid(value, here, "must be an integer"))
            else:
                parsed[(section, name)] = amount
    limits, requests = sections["limits"], sections["requests"]
    if isinstance(limits, dict) and isinstance(requests, dict):
        for name, value in requests.items():
            asked = parsed.get(("requests", name))
            if asked is None:
                continue
            if name not in limits:
                if is_extended(name):
                    errs.append(FieldError("Required value: Limit must be set for non overcommitable resources",
                                           ["limits"]))
                continue
            limit = parsed.get(("limits", name))
            if limit is None:
                continue
            if is_extended(name) and asked != limit:
                errs.append(_invalid(value, "requests", f"must be equal to {name} limit of {limits[name]}"))
            elif asked > limit:
                errs.append(_invalid(value, "requests", f"must be less than or equal to {name} limit of "
                                                        f"{limits[name]}"))
    return combine(*errs)


def default_requests(container: dict) -> None:
    """The API server's defaulting: a resource with a limit and no request requests its limit."""
    resources = container.get("resources")
    if not isinstance(resources, dict) or not isinstance(resources.get("limits"), dict):
        return
    requests = resources.setdefault("requests", {})
    if isinstance(requests, dict):
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)
