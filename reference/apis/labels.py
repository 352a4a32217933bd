"""The labels and annotation keys Knative's controllers (and ACK's extensions) put on what they create."""

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

# Kubernetes: the ReplicaSet removes the Pods of the lowest cost first (ResourcePolicy sets it per unit)
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

# ACK's reserved instances (reference.serving.reserve)
RESERVE = "knative.aliyun.com/reserve-instance"
RESERVE_REPLICAS = "knative.aliyun.com/reserve-instance-replicas"
RESERVED_LABEL = "serving.kproof.dev/reserved-instance"


