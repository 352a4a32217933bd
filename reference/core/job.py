"""batch/v1 Job: runs Pods of its template to completion, as Kubernetes' Job controller does.

Up to `parallelism` Pods run at once until `completions` of them succeeded (with no completions, until one
succeeded and none is left running). A failed Pod (restartPolicy Never) or a container restart (OnFailure)
counts against `backoffLimit`; past it the Job fails. A `podFailurePolicy` rule decides first: FailJob on a
matching exit code fails the Job at once, Ignore does not count the failure. `activeDeadlineSeconds` bounds
the whole run. A finished Job keeps its Pods (a failed one's running Pods are stopped) and goes after
`ttlSecondsAfterFinished` when set.

Status as Kubernetes 1.32 writes it: startTime, active, ready, succeeded, failed, terminating,
uncountedTerminatedPods, completionTime; the condition SuccessCriteriaMet then Complete, or FailureTarget then
Failed, with Kubernetes' reasons and messages.
"""

from __future__ import annotations

import time

from reference.apis import conditions, times
from reference.apis.objects import is_deleting, owner_reference, pod_ready
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys

FINISHED = ("Complete", "Failed")


def make_pod(job: dict) -> dict:
    meta = job["metadata"]
    template = (job.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": f"{meta['name']}-", "namespace": meta["namespace"],
                         "labels": dict(template_meta.get("labels") or {}),
                         "annotations": dict(template_meta.get("annotations") or {}),
                         "ownerReferences": [owner_reference(job)]},
            "spec": template.get("spec") or {}}


def _phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "")


def _exit_codes(pod: dict) -> list[tuple[str, int]]:
    out = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode"):
            out.append((status.get("name", ""), int(terminated["exitCode"])))
    return out


def policy_action(job: dict, pod: dict) -> tuple[str, str] | None:
    """(action, message) of the first podFailurePolicy rule a failed Pod matches, if any."""
    rules = (((job.get("spec") or {}).get("podFailurePolicy") or {}).get("rules")) or []
    pod_conditions = {c.get("type") for c in (pod.get("status") or {}).get("conditions") or []
                      if c.get("status") == "True"}
    for index, rule in enumerate(rules):
        codes = rule.get("onExitCodes")
        if codes:
            values = set(codes.get("values") or [])
            for container, code in _exit_codes(pod):
                if codes.get("containerName") and codes["containerName"] != container:
                    continue
                if (code in values) == (codes.get("operator", "In") == "In"):
                    meta = pod["metadata"]
                    return rule.get("action", ""), (
                        f"Container {container} for pod {meta['namespace']}/{meta['name']} failed with exit code "
                        f"{code} matching {rule.get('action')} rule at index {index}")
        for requirement in rule.get("onPodConditions") or []:
            if requirement.get("type") in pod_conditions:
                return rule.get("action", ""), f"Pod matched {rule.get('action')} rule at index {index}"
    return None


def _finished(job: dict) -> dict | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in FINISHED and condition.get("status") == "True":
            return condition
    return None


def _count_failures(job: dict, pods: list[dict]) -> tuple[int, tuple[str, str] | None]:
    """(failures counted against backoffLimit, a FailJob verdict if one applies)."""
    on_failure = ((job.get("spec") or {}).get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure"
    failures = 0
    for pod in pods:
        if _phase(pod) == "Failed":
            action = policy_action(job, pod)
            if action is not None and action[0] == "FailJob":
                return failures, ("PodFailurePolicy", action[1])
            if action is not None and action[0] == "Ignore":
                continue
            failures += 1
        elif on_failure:
            failures += sum(s.get("restartCount", 0) for s in (pod.get("status") or {}).get("containerStatuses") or [])
    return failures, None


def job_status(job: dict, pods: list[dict], verdict: tuple[str, str, str] | None) -> dict:
    """The status for `pods`; `verdict` (condition, reason, message) when the Job finishes now or finished."""
    previous = job.get("status") or {}
    active = [p for p in pods if _phase(p) not in ("Succeeded", "Failed") and not is_deleting(p)]
    status: dict = {"startTime": previous.get("startTime") or times.now(),
                    "active": len(active), "ready": sum(1 for p in active if pod_ready(p)),
                    "succeeded": sum(1 for p in pods if _phase(p) == "Succeeded"),
                    "failed": sum(1 for p in pods if _phase(p) == "Failed"),
                    "terminating": sum(1 for p in pods if is_deleting(p)), "uncountedTerminatedPods": {}}
    status = {k: v for k, v in status.items() if v or k in ("ready", "terminating", "uncountedTerminatedPods")}
    parts = [c for c in previous.get("conditions") or []]
    if verdict is not None:
        kind, reason, message = verdict
        target = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
        wanted = [conditions.condition(target, True, reason, message), conditions.condition(kind, True, reason,
                                                                                            message)]
        parts = conditions.merge(wanted, previous.get("conditions"))
        if kind == "Complete":
            status["completionTime"] = previous.get("completionTime") or times.now()
    if parts:
        status["conditions"] = parts
    return status


class JobController(Controller):
    name = "job-controller"

    def __init__(self, registry, clock=time.time) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("batch", "v1", "jobs")
        self.pods = registry.kinds.require("", "v1", "pods")
        self.clock = clock

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.pods, owner_keys("Job"))]

    def _verdict(self, job: dict, pods: list[dict]) -> tuple[str, str, str] | None:
        spec = job.get("spec") or {}
        failures, fail_job = _count_failures(job, pods)
        if fail_job is not None:
            return ("Failed", *fail_job)
        if failures > int(spec.get("backoffLimit", 6)):
            return "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        succeeded = sum(1 for p in pods if _phase(p) == "Succeeded")
        active = [p for p in pods if _phase(p) not in ("Succeeded", "Failed")]
        completions = spec.get("completions")
        if (completions is not None and succeeded >= completions) or (completions is None and succeeded and
                                                                       not active):
            return "Complete", "CompletionsReached", "Reached expected number of succeeded pods"
        started = times.parse((job.get("status") or {}).get("startTime"))
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and started is not None and self.clock() - started >= deadline:
            return "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
        return None

    def _start(self, job: dict, pods: list[dict]) -> None:
        spec = job.get("spec") or {}
        if spec.get("suspend"):
            return
        succeeded = sum(1 for p in pods if _phase(p) == "Succeeded")
        active = sum(1 for p in pods if _phase(p) not in ("Succeeded", "Failed"))
        completions = spec.get("completions")
        remaining = (completions - succeeded) if completions is not None else (0 if succeeded else 1)
        wanted = min(int(spec.get("parallelism", 1)), max(0, remaining)) - active
        for _ in range(max(0, wanted)):
            self.registry.create(self.pods, job["metadata"]["namespace"], make_pod(job), self.opts)

    async def reconcile(self, key: Key) -> float | None:
        job = self.get(self.kind, *key)
        if job is None or is_deleting(job):
            return None
        spec = job.get("spec") or {}
        pods = [p for p in self.children(self.pods, key[0], job["metadata"]["uid"])]
        finished = _finished(job)
        verdict = (finished["type"], finished.get("reason", ""), finished.get("message", "")) if finished else \
            self._verdict(job, pods)
        if verdict is None:
            self._start(job, pods)
            pods = self.children(self.pods, key[0], job["metadata"]["uid"])
        elif verdict[0] == "Failed":
            for pod in pods:  # a failed Job's running Pods are stopped
                if _phase(pod) not in ("Succeeded", "Failed") and not is_deleting(pod):
                    self.registry.delete(self.pods, key[0], pod["metadata"]["name"], {}, self.opts)
        job = self.write_status(self.kind, job, job_status(job, pods, verdict))
        ttl = spec.get("ttlSecondsAfterFinished")
        if verdict is not None and ttl is not None:
            done = times.parse((_finished(job) or {}).get("lastTransitionTime"))
            left = (done or self.clock()) + ttl - self.clock()
            if left <= 0:
                self.registry.delete(self.kind, key[0], key[1], {"propagationPolicy": "Background"}, self.opts)
                return None
            return left
        deadline = spec.get("activeDeadlineSeconds")
        return float(deadline) if verdict is None and deadline else None
