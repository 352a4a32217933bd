"""The labels and annotations Knative's serving controllers put on what they create."""

SERVICE = "serving.knative.dev/service"
SERVICE_UID = "serving.knative.dev/serviceUID"
CONFIGURATION = "serving.knative.dev/configuration"
CONFIGURATION_UID = "serving.knative.dev/configurationUID"
CONFIGURATION_GENERATION = "serving.knative.dev/configurationGeneration"
REVISION = "serving.knative.dev/revision"
REVISION_UID = "serving.knative.dev/revisionUID"
ROUTE = "serving.knative.dev/route"
ROUTING_STATE = "serving.knative.dev/routingState"
ROUTES_ANNOTATION = "serving.knative.dev/routes"
VISIBILITY = "networking.knative.dev/visibility"
CLUSTER_LOCAL = "cluster-local"
SERVERLESS_SERVICE = "networking.internal.knative.dev/serverlessservice"
SERVICE_TYPE = "networking.internal.knative.dev/serviceType"  # Public or Private
APP = "app"

CREATOR = "serving.knative.dev/creator"
LAST_MODIFIER = "serving.knative.dev/lastModifier"

# Annotations that belong to the object itself and are not handed down to what it creates. Knative copies
# the rest, creator and lastModifier included, from a Service onto its Route and Configuration.
NOT_PROPAGATED = ("kubectl.kubernetes.io/last-applied-configuration",)


def owner_reference(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def propagated(annotations: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (annotations or {}).items() if k not in NOT_PROPAGATED}
