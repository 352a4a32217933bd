"""ACK's ResourcePolicy: what its webhook refuses (strategy, units, the try-next policy)."""

from __future__ import annotations

from reference.apis.scheduling import RESOURCES, TRY_NEXT_POLICIES
from reference.apiserver.admission.context import Context
from reference.apiserver.admission.fielderror import FieldError, combine, invalid_value, missing_field
from reference.apiserver.admission.numbers import parse_duration

PREEMPT_POLICIES = ("AfterAllUnits", "BeforeNextUnit")


def _one_of(value: object, allowed: tuple[str, ...], path: str) -> FieldError | None:
    if value in allowed:
        return None
    return invalid_value(value, path, f"must be one of: {', '.join(allowed)}")


def validate_resource_policy(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = []
    if spec.get("strategy", "prefer") != "prefer":
        errs.append(_one_of(spec.get("strategy"), ("prefer",), "spec.strategy"))
    units = spec.get("units") or []
    if not units:
        errs.append(missing_field("spec.units"))
    for i, unit in enumerate(units):
        here = f"spec.units[{i}]"
        if unit.get("resource", "ecs") not in RESOURCES:
            errs.append(_one_of(unit.get("resource"), RESOURCES, f"{here}.resource"))
        if unit.get("max") is not None and unit["max"] < 0:
            errs.append(invalid_value(unit["max"], f"{here}.max", "must be greater than or equal to 0"))
    if "preemptPolicy" in spec:
        errs.append(_one_of(spec["preemptPolicy"], PREEMPT_POLICIES, "spec.preemptPolicy"))
    when = spec.get("whenTryNextUnits") or {}
    if "policy" in when:
        errs.append(_one_of(when["policy"], TRY_NEXT_POLICIES, "spec.whenTryNextUnits.policy"))
    if when.get("timeout"):
        try:
            if parse_duration(when["timeout"]) < 0:
                raise ValueError("negative")
        except ValueError:
            errs.append(invalid_value(when["timeout"], "spec.whenTryNextUnits.timeout", "a duration such as 15m"))
    return combine(*errs)
