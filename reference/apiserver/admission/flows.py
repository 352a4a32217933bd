"""Defaulting and validation of flows.knative.dev/v1 Sequences and Parallels, as Knative Eventing's webhook
does them (pkg/apis/flows/v1: *_defaults.go, *_validation.go)."""

from __future__ import annotations

import json

from reference.apiserver.admission.context import Context
from reference.apiserver.admission.duck import default_destination, validate_delivery, validate_destination
from reference.apiserver.admission.eventing import _default_channel_template
from reference.apiserver.admission.fielderror import FieldError, combine, invalid_value, missing_field, within
from reference.apiserver.admission.names import validate_metadata_of


def _namespace(obj: dict) -> str:
    return obj["metadata"].get("namespace", "")


def _default_template(obj: dict, ctx: Context) -> dict:
    spec = obj.setdefault("spec", {})
    if not spec.get("channelTemplate"):
        spec["channelTemplate"] = _default_channel_template(ctx, _namespace(obj))
    return spec


def _array_value(item: object, path: str, index: int, cause: FieldError) -> FieldError:
    """apis.ErrInvalidArrayValue: the whole entry is named invalid; the nested problem goes in the details."""
    return invalid_value(json.dumps(item, sort_keys=True), f"{path}[{index}]", str(cause))


def _template_problem(template: dict | None) -> FieldError | None:
    """messaging's IsValidChannelTemplate, under spec.channelTemplate."""
    if not template:
        return missing_field("channelTemplate")
    missing = [k for k in ("kind", "apiVersion") if not template.get(k)]
    return missing_field(*missing).via("channelTemplate") if missing else None


# Sequence -----------------------------------------------------------------------------------------

def default_sequence(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = _default_template(obj, ctx)
    namespace = _namespace(obj)
    for step in spec.get("steps") or []:
        if isinstance(step, dict):
            default_destination(step, namespace)  # a step is a Destination (inline) with a delivery
    default_destination(spec.get("reply"), namespace)


def validate_sequence(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    namespace = _namespace(obj)
    errs: list[FieldError | None] = []
    steps = spec.get("steps") or []
    if not steps:
        errs.append(missing_field("steps"))
    for i, step in enumerate(steps):
        destination = {k: step.get(k) for k in ("ref", "uri") if step.get(k)}
        problem = combine(validate_destination(destination, namespace),
                          within(validate_delivery(step.get("delivery"), namespace, ctx), "delivery"))
        if problem:
            errs.append(_array_value(step, "steps", i, problem))
    errs.append(_template_problem(spec.get("channelTemplate")))
    if spec.get("reply"):
        errs.append(within(validate_destination(spec["reply"], namespace), "reply"))
    found = combine(*errs)
    return combine(validate_metadata_of(obj), found.via("spec") if found else None)


# Parallel -----------------------------------------------------------------------------------------

def default_parallel(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = _default_template(obj, ctx)
    namespace = _namespace(obj)
    for branch in spec.get("branches") or []:
        if isinstance(branch, dict):
            for field in ("filter", "subscriber", "reply"):
                default_destination(branch.get(field), namespace)
    default_destination(spec.get("reply"), namespace)


def validate_parallel(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    """Knative checks each branch's filter, subscriber and reply (not its delivery: a bad one shows when the
    branch's Subscription is refused)."""
    spec = obj.get("spec") or {}
    namespace = _namespace(obj)
    errs: list[FieldError | None] = []
    branches = spec.get("branches") or []
    if not branches:
        errs.append(missing_field("branches"))
    for i, branch in enumerate(branches):
        for field in ("filter", "subscriber", "reply"):
            if field != "subscriber" and branch.get(field) is None:
                continue
            problem = validate_destination(branch.get(field), namespace)
            if problem:
                errs.append(_array_value(branch, f"branches.{field}", i, problem))
    template = spec.get("channelTemplate")
    errs.append(missing_field("channelTemplate") if not template else combine(
        *(missing_field(f"channelTemplate.{k}") for k in ("apiVersion", "kind") if not template.get(k))))
    if template and spec.get("reply"):
        errs.append(within(validate_destination(spec["reply"], namespace), "reply"))
    found = combine(*errs)
    return combine(validate_metadata_of(obj), found.via("spec") if found else None)
