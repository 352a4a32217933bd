"""Defaulting and validation of JobSink (sinks.knative.dev/v1alpha1) and EventPolicy
(eventing.knative.dev/v1alpha1), as Knative Eventing's webhook does them."""

from __future__ import annotations

import copy
import secrets
import string

from reference.apis.selectors import problems as selector_problems
from reference.apiserver.admission.context import Context
from reference.apiserver.admission.duck import eventing_features
from reference.apiserver.admission.eventing import validate_filter
from reference.apiserver.admission.fielderror import (
    FieldError,
    combine,
    generic,
    invalid_value,
    missing_field,
    missing_one_of,
    multiple_one_of,
)
from reference.apiserver.admission.names import validate_metadata_of
from reference.apiserver.admission.workloads import default_job, validate_job

EXECUTION_MODE = "K_EXECUTION_MODE"


def _namespace(obj: dict) -> str:
    return obj["metadata"].get("namespace", "")


# JobSink --------------------------------------------------------------------------------------------

def default_job_sink(obj: dict, old: dict | None, ctx: Context) -> None:
    """K_EXECUTION_MODE=batch in every container that does not set it (setBatchJobDefaults)."""
    job = (obj.get("spec") or {}).get("job")
    if not isinstance(job, dict):
        return
    spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if isinstance(container, dict) and not any(e.get("name") == EXECUTION_MODE for e in container.get("env") or []):
            container["env"] = [*(container.get("env") or []), {"name": EXECUTION_MODE, "value": "batch"}]


def _generated_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))


def validate_job_sink(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    """The job must be one the API server would create: Knative dry-runs it; here the Job's own admission
    runs on a copy named as the dry run names it."""
    job = (obj.get("spec") or {}).get("job")
    errs: list[FieldError | None] = [validate_metadata_of(obj)]
    if not job:
        errs.append(missing_one_of("spec.job"))
        return combine(*errs)
    trial = copy.deepcopy(job)
    name = _generated_name(obj["metadata"].get("name", ""))
    trial["metadata"] = {**(trial.get("metadata") or {}), "name": name, "namespace": _namespace(obj)}
    trial.setdefault("apiVersion", "batch/v1")
    trial.setdefault("kind", "Job")
    default_job(trial, None, ctx)
    problem = validate_job(trial, None, ctx)
    if problem:
        causes = "; ".join(f"{', '.join(e.paths)}: {e.message}" for e in problem.merged())
        errs.append(generic(f'Job.batch "{name}" is invalid: {causes}', "spec.job"))
    return combine(*errs)


# EventPolicy ----------------------------------------------------------------------------------------

def default_event_policy(obj: dict, old: dict | None, ctx: Context) -> None:
    for entry in (obj.get("spec") or {}).get("from") or []:
        ref = entry.get("ref") if isinstance(entry, dict) else None
        if isinstance(ref, dict) and not ref.get("namespace"):
            ref["namespace"] = _namespace(obj)


def _reference_errors(ref: dict) -> FieldError | None:
    missing = [k for k in ("kind", "apiVersion", "name") if not ref.get(k)]
    return missing_field(*missing) if missing else None


def _sub_error(sub: object) -> FieldError | None:
    if not isinstance(sub, str) or len(sub) <= 1:
        return None
    star = sub.find("*")
    if 0 <= star <= len(sub) - 2:
        return FieldError(f"invalid value: {sub}", ["sub"], "'*' is only allowed as suffix")
    return None


def validate_event_policy(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj)]
    spec_changed = old is None or (old.get("spec") or {}) != spec
    if spec_changed and eventing_features(ctx).get("authentication-oidc") != "enabled":
        errs.append(generic("oidc-authentication feature not enabled"))
        return combine(*errs)
    for i, entry in enumerate(spec.get("from") or []):
        ref, sub = entry.get("ref"), entry.get("sub")
        if ref is None and not sub:
            errs.append(missing_one_of("ref", "sub").via_field_index("from", i).via("spec"))
        if ref is not None and sub is not None:
            errs.append(multiple_one_of("ref", "sub").via_field_index("from", i).via("spec"))
        if isinstance(ref, dict):
            found = _reference_errors(ref)
            errs.append(found.via("ref").via_field_index("from", i).via("spec") if found else None)
        found = _sub_error(sub)
        errs.append(found.via_field_index("from", i).via("spec") if found else None)
    for i, entry in enumerate(spec.get("to") or []):
        ref, selector = entry.get("ref"), entry.get("selector")
        if ref is None and selector is None:
            errs.append(missing_one_of("ref", "selector").via_field_index("to", i).via("spec"))
        if ref is not None and selector is not None:
            errs.append(multiple_one_of("ref", "selector").via_field_index("to", i).via("spec"))
        if isinstance(ref, dict):
            found = _reference_errors(ref)
            errs.append(found.via("ref").via_field_index("to", i).via("spec") if found else None)
        if isinstance(selector, dict):
            errs += [invalid_value(selector, f"spec.to[{i}].selector.{p}") for p in selector_problems(selector)]
    for i, expression in enumerate(spec.get("filters") or []):
        problem = validate_filter(expression)
        errs.append(problem.via_field_index("filters", i).via("spec") if problem else None)
    return combine(*errs)
