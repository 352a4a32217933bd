"""batch/v1 CronJob: a Job from `jobTemplate` at each time `schedule` names (in `timeZone`, UTC otherwise), as
Kubernetes' CronJob controller makes it: named `<cronjob>-<scheduled time in minutes since the epoch>`, only the
most recent missed time after a pause, `concurrencyPolicy` Allow, Forbid or Replace, `suspend`, and the
finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` removed, oldest first."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from reference.apis import times
from reference.apis.objects import is_deleting, owner_reference
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
               "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def _finished(job: dict) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def last_due(schedule: str, zone: str | None, since: float, now: float) -> float | None:
    """The latest scheduled time in (since, now], or None."""
    try:
        location = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return None
    expression = DESCRIPTORS.get(schedule.strip(), schedule.strip())
    if not croniter.is_valid(expression):
        return None
    later = croniter(expression, datetime.fromtimestamp(now, location))
    latest = later.get_prev(datetime).timestamp()
    return latest if latest > since else None


def next_due(schedule: str, zone: str | None, now: float) -> float | None:
    expression = DESCRIPTORS.get(schedule.strip(), schedule.strip())
    try:
        location = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return None
    if not croniter.is_valid(expression):
        return None
    return float(croniter(expression, datetime.fromtimestamp(now, location)).get_next(datetime).timestamp())


def make_job(cron_job: dict, scheduled: float) -> dict:
    meta = cron_job["metadata"]
    template = (cron_job.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    stamp = datetime.fromtimestamp(scheduled, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{meta['name']}-{int(scheduled // 60)}", "namespace": meta["namespace"],
                         "labels": dict(template_meta.get("labels") or {}),
                         "annotations": {**(template_meta.get("annotations") or {}), SCHEDULED_ANNOTATION: stamp},
                         "ownerReferences": [owner_reference(cron_job)]},
            "spec": template.get("spec") or {}}


class CronJobController(Controller):
    name = "cronjob-controller"

    def __init__(self, registry, clock=time.time) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("batch", "v1", "cronjobs")
        self.jobs = registry.kinds.require("batch", "v1", "jobs")
        self.clock = clock

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.jobs, owner_keys("CronJob"))]

    def _trim(self, jobs: list[dict], kind: str, keep: int) -> None:
        done = sorted((j for j in jobs if _finished(j) == kind), key=lambda j: j["metadata"]["name"])
        for job in done[:max(0, len(done) - keep)]:
            self.registry.delete(self.jobs, job["metadata"]["namespace"], job["metadata"]["name"],
                                 {"propagationPolicy": "Background"}, self.opts)

    async def reconcile(self, key: Key) -> float | None:
        cron_job = self.get(self.kind, *key)
        if cron_job is None or is_deleting(cron_job):
            return None
        spec = cron_job.get("spec") or {}
        previous = cron_job.get("status") or {}
        jobs = [j for j in self.children(self.jobs, key[0], cron_job["metadata"]["uid"]) if not is_deleting(j)]
        active = [j for j in jobs if _finished(j) is None]
        now = self.clock()
        since = times.parse(previous.get("lastScheduleTime")) or times.parse(
            cron_job["metadata"].get("creationTimestamp")) or now
        due = None if spec.get("suspend") else last_due(spec.get("schedule", ""), spec.get("timeZone"), since, now)
        status = dict(previous)
        if due is not None:
            policy = spec.get("concurrencyPolicy", "Allow")
            if policy == "Replace":
                for job in active:
                    self.registry.delete(self.jobs, key[0], job["metadata"]["name"],
                                         {"propagationPolicy": "Background"}, self.opts)
                active = []
            if policy != "Forbid" or not active:
                job = make_job(cron_job, due)
                if self.get(self.jobs, key[0], job["metadata"]["name"]) is None:
                    active.append(self.registry.create(self.jobs, key[0], job, self.opts))
                status["lastScheduleTime"] = times.format(due)
        self._trim(jobs, "Complete", int(spec.get("successfulJobsHistoryLimit", 3)))
        self._trim(jobs, "Failed", int(spec.get("failedJobsHistoryLimit", 1)))
        succeeded = [times.parse(c.get("lastTransitionTime")) for j in jobs if _finished(j) == "Complete"
                     for c in (j.get("status") or {}).get("conditions") or [] if c.get("type") == "Complete"]
        if any(succeeded):
            status["lastSuccessfulTime"] = times.format(max(s for s in succeeded if s))
        refs = [{"apiVersion": "batch/v1", "kind": "Job", "name": j["metadata"]["name"],
                 "namespace": key[0], "uid": j["metadata"]["uid"]} for j in active]
        if refs:
            status["active"] = refs
        else:
            status.pop("active", None)
        self.write_status(self.kind, cron_job, status)
        upcoming = next_due(spec.get("schedule", ""), spec.get("timeZone"), now)
        return max(0.05, upcoming - self.clock() + 0.01) if upcoming is not None and not spec.get("suspend") else None
