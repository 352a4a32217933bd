"""A Configuration's status: its latest created and latest ready Revisions, Ready from the latest one
(Knative's configuration_lifecycle.go)."""

from __future__ import annotations

from reference.apis import conditions
from reference.apis.labels import CONFIGURATION_GENERATION


def generation(revision: dict) -> int:
    """The Configuration generation a Revision was made for."""
    return int((revision["metadata"].get("labels") or {}).get(CONFIGURATION_GENERATION, "0"))


def ready_condition(name: str, latest: dict | None, not_owned: bool) -> dict:
    """Ready from the latest Revision: a name taken by someone else's fails it, as its failure does."""
    if not_owned:
        return conditions.condition("Ready", False, "RevisionFailed",
                                    f'Revision "{name}" already exists and is not owned by this Configuration')
    latest_ready = conditions.get(latest)
    if latest_ready["status"] == "True":
        return conditions.condition("Ready", True)
    if latest_ready["status"] == "False":
        return conditions.condition("Ready", False, "RevisionFailed",
                                    f'Revision "{name}" failed with message: {latest_ready.get("message", "")}.')
    return conditions.condition("Ready", None, latest_ready.get("reason", ""), latest_ready.get("message", ""))


def configuration_status(config: dict, name: str, latest: dict | None, owned: list[dict], not_owned: bool) -> dict:
    """`name` is the Revision of the current generation, `latest` that Revision as stored, `owned` all of the
    Configuration's Revisions. The latest ready Revision only moves forward (to a newer generation)."""
    status = dict(config.get("status") or {})
    status["observedGeneration"] = config["metadata"]["generation"]
    status["latestCreatedRevisionName"] = name
    latest_ready = max((r for r in owned if conditions.is_true(r)), key=generation, default=None)
    if latest_ready is not None:
        previous = next((r for r in owned if r["metadata"]["name"] == status.get("latestReadyRevisionName")), None)
        if previous is None or generation(latest_ready) >= generation(previous):
            status["latestReadyRevisionName"] = latest_ready["metadata"]["name"]
    status["conditions"] = conditions.merge([ready_condition(name, latest, not_owned)], status.get("conditions"))
    return status
