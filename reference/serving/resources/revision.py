"""A Configuration's Revision (Knative's pkg/reconciler/configuration/resources)."""

from __future__ import annotations

import copy

from reference.apis.labels import (
    CONFIGURATION,
    CONFIGURATION_GENERATION,
    CONFIGURATION_UID,
    CREATOR,
    LAST_MODIFIER,
    ROUTING_STATE,
    SERVICE,
    SERVICE_UID,
)
from reference.apis.objects import owner_reference


def revision_name(config: dict) -> str:
    """The template's own name (bring your own), else `<config>-00001` by generation."""
    template_name = ((config["spec"].get("template") or {}).get("metadata") or {}).get("name")
    return template_name or f"{config['metadata']['name']}-{config['metadata']['generation']:05d}"


def make_revision(config: dict) -> dict:
    """The Revision of the Configuration's current template: its labels and annotations plus Knative's,
    routingState pending until a Route sends it traffic."""
    meta = config["metadata"]
    template = copy.deepcopy(config["spec"].get("template") or {})
    template_meta = template.get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}), CONFIGURATION: meta["name"], CONFIGURATION_UID: meta["uid"],
              CONFIGURATION_GENERATION: str(meta["generation"]), ROUTING_STATE: "pending"}
    for key in (SERVICE, SERVICE_UID):
        if key in (meta.get("labels") or {}):
            labels[key] = meta["labels"][key]
    annotations = dict(template_meta.get("annotations") or {})
    modifier = (meta.get("annotations") or {}).get(LAST_MODIFIER)
    if modifier:
        annotations[CREATOR] = modifier  # Knative: a revision's creator is who last changed the template
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
            "metadata": {"name": revision_name(config), "namespace": meta["namespace"], "labels": labels,
                         "annotations": annotations, "ownerReferences": [owner_reference(config)]},
            "spec": template.get("spec") or {}}
