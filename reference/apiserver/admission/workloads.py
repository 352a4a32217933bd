"""Defaulting and validation of apps/v1 Deployment, batch/v1 Job and CronJob, ServiceAccounts and RBAC objects,
as the Kubernetes API server does them (the rules their controllers rely on)."""

from __future__ import annotations

import uuid

from croniter import croniter

from reference.apis import selectors
from reference.apiserver.admission.context import Context
from reference.apiserver.admission.fielderror import FieldError, combine, generic

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _required(path: str, detail: str = "") -> FieldError:
    return FieldError("Required value" + (f": {detail}" if detail else ""), [path])


def _invalid(path: str, value: object, detail: str) -> FieldError:
    return FieldError(f"Invalid value: {value!r}: {detail}", [path])


def _template_errors(template: dict | None, path: str, restart_policies: tuple[str, ...]) -> list[FieldError | None]:
    spec = (template or {}).get("spec") or {}
    containers = spec.get("containers")
    errs: list[FieldError | None] = []
    if not isinstance(containers, list) or not containers:
        errs.append(_required(f"{path}.spec.containers"))
    else:
        errs += [_required(f"{path}.spec.containers[{i}].image") for i, c in enumerate(containers)
                 if not isinstance(c, dict) or not c.get("image")]
        errs += [_required(f"{path}.spec.containers[{i}].name") for i, c in enumerate(containers)
                 if isinstance(c, dict) and not c.get("name")]
    policy = spec.get("restartPolicy")
    if policy not in restart_policies:
        valid = ", ".join(f'"{p}"' for p in restart_policies)
        errs.append(FieldError(f"Unsupported value: {policy!r}: supported values: {valid}"
                               if policy else f"Required value: valid values: {valid}",
                               [f"{path}.spec.restartPolicy"]))
    return errs


def _selector_errors(selector: dict | None, labels: dict | None, path: str) -> list[FieldError | None]:
    if not selector or not ((selector.get("matchLabels") or {}) or (selector.get("matchExpressions") or [])):
        return [_required(f"{path}.selector")]
    bad = [FieldError("Invalid value", [f"{path}.selector.{p}"]) for p in selectors.problems(selector)]
    if not bad and not selectors.matches(selector, labels):
        bad.append(_invalid(f"{path}.template.metadata.labels", labels or {}, "`selector` does not match template "
                                                                              "`labels`"))
    return list(bad)


def _defaults_of_pod(template: dict, restart: str) -> None:
    spec = template.setdefault("spec", {})
    spec.setdefault("restartPolicy", restart)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")


# Deployment ---------------------------------------------------------------------------------------

def default_deployment(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    _defaults_of_pod(spec.setdefault("template", {}), "Always")


def validate_deployment(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    errs = _selector_errors(spec.get("selector"), (template.get("metadata") or {}).get("labels"), "spec")
    errs += _template_errors(template, "spec.template", ("Always",))
    if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
        errs.append(_invalid("spec.replicas", spec["replicas"], "must be greater than or equal to 0"))
    if old is not None and (old.get("spec") or {}).get("selector") != spec.get("selector"):
        errs.append(_invalid("spec.selector", spec.get("selector"), "field is immutable"))
    return combine(*errs)


# Job ------------------------------------------------------------------------------------------------

def default_job(obj: dict, old: dict | None, ctx: Context) -> None:
    """Kubernetes' defaults, and the selector it generates from the Job's uid (assigned here on create, as
    the API server assigns it before its Job strategy runs)."""
    meta = obj["metadata"]
    spec = obj.setdefault("spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = spec.setdefault("template", {})
    _defaults_of_pod(template, "")
    if not template["spec"]["restartPolicy"]:
        del template["spec"]["restartPolicy"]
    if old is None and not spec.get("manualSelector"):
        uid = meta.setdefault("uid", str(uuid.uuid4()))
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        for key in CONTROLLER_UID_LABELS:
            labels[key] = uid
        for key in JOB_NAME_LABELS:
            labels[key] = meta.get("name") or ""
        spec["selector"] = {"matchLabels": {CONTROLLER_UID_LABELS[0]: uid}}


def validate_job(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs = _template_errors(spec.get("template"), "spec.template", ("OnFailure", "Never"))
    for name in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        value = spec.get(name)
        if isinstance(value, int) and value < (1 if name == "activeDeadlineSeconds" else 0):
            errs.append(_invalid(f"spec.{name}", value, "must be greater than or equal to "
                                 f"{1 if name == 'activeDeadlineSeconds' else 0}"))
    if spec.get("completionMode") not in (None, "NonIndexed", "Indexed"):
        errs.append(FieldError(f'Unsupported value: "{spec["completionMode"]}": supported values: "NonIndexed", '
                               '"Indexed"', ["spec.completionMode"]))
    if old is not None:
        before = old.get("spec") or {}
        for name in ("template", "selector", "completions", "completionMode"):
            if before.get(name) != spec.get(name) and not (name == "completions" and spec.get("suspend")):
                errs.append(_invalid(f"spec.{name}", spec.get(name), "field is immutable"))
    return combine(*errs)


# CronJob --------------------------------------------------------------------------------------------

def default_cron_job(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    job_spec.setdefault("backoffLimit", 6)
    _defaults_of_pod(job_spec.setdefault("template", {}), "")
    if not job_spec["template"]["spec"]["restartPolicy"]:
        del job_spec["template"]["spec"]["restartPolicy"]


def cron_schedule_problem(schedule: str) -> str | None:
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    if text in CRON_DESCRIPTORS:
        return None
    if not text or not croniter.is_valid(text) or len(text.split()) != 5:
        return "unparseable cron schedule"
    return None


def validate_cron_job(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = []
    schedule = spec.get("schedule")
    if not schedule:
        errs.append(_required("spec.schedule"))
    else:
        problem = cron_schedule_problem(schedule)
        if problem:
            errs.append(_invalid("spec.schedule", schedule, problem))
    if spec.get("concurrencyPolicy") not in ("Allow", "Forbid", "Replace"):
        errs.append(FieldError(f'Unsupported value: "{spec.get("concurrencyPolicy")}": supported values: '
                               '"Allow", "Forbid", "Replace"', ["spec.concurrencyPolicy"]))
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    errs += _template_errors(job_spec.get("template"), "spec.jobTemplate.spec.template", ("OnFailure", "Never"))
    return combine(*errs)


# ServiceAccounts and RBAC -------------------------------------------------------------------------------

def validate_role(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    errs: list[FieldError | None] = []
    for i, rule in enumerate(obj.get("rules") or []):
        if not rule.get("verbs"):
            errs.append(_required(f"rules[{i}].verbs", "verbs must contain at least one value"))
        if not rule.get("nonResourceURLs") and not rule.get("resources"):
            errs.append(_required(f"rules[{i}].resources", "resource rules must supply at least one resource"))
    return combine(*errs)


def validate_role_binding(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    ref = obj.get("roleRef") or {}
    kinds = ("ClusterRole",) if obj.get("kind") == "ClusterRoleBinding" else ("Role", "ClusterRole")
    errs: list[FieldError | None] = []
    if not ref.get("name"):
        errs.append(_required("roleRef.name"))
    if ref.get("kind") not in kinds:
        errs.append(FieldError(f"Unsupported value: {ref.get('kind')!r}: supported values: "
                               + ", ".join(f'"{k}"' for k in kinds), ["roleRef.kind"]))
    for i, subject in enumerate(obj.get("subjects") or []):
        if subject.get("kind") not in ("ServiceAccount", "User", "Group"):
            errs.append(FieldError("Unsupported value", [f"subjects[{i}].kind"]))
        if not subject.get("name"):
            errs.append(_required(f"subjects[{i}].name"))
    if old is not None and old.get("roleRef") != obj.get("roleRef"):
        errs.append(generic("Invalid value: cannot change roleRef", "roleRef"))
    return combine(*errs)


# Printer columns ----------------------------------------------------------------------------------------

def role_ref_column(binding: dict) -> str:
    ref = binding.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def deployment_ready_column(deployment: dict) -> str:
    status = deployment.get("status") or {}
    return f"{status.get('readyReplicas', 0)}/{(deployment.get('spec') or {}).get('replicas', 0)}"


def job_status_column(job: dict) -> str:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return "Running"


def job_completions_column(job: dict) -> str:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    completions = spec.get("completions")
    return f"{status.get('succeeded', 0)}/{completions if completions is not None else 1}"
