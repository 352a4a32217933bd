"""serving.knative.dev/v1 and autoscaling.internal.knative.dev/v1alpha1 schemas."""

from reference.apiserver.schemas.duck import STATUS
from reference.apiserver.schemas.k8s import POD_SPEC_FIELDS, TEMPLATE_METADATA
from reference.apiserver.schemas.schema import BOOL, INT, STR, arr, obj

REVISION_SPEC = obj(
    **POD_SPEC_FIELDS,
    containerConcurrency=INT,
    timeoutSeconds=INT,
    responseStartTimeoutSeconds=INT,
    idleTimeoutSeconds=INT,
)

REVISION_TEMPLATE = obj(metadata=TEMPLATE_METADATA, spec=REVISION_SPEC)

TRAFFIC_TARGET = obj(
    tag=STR,
    revisionName=STR,
    configurationName=STR,
    latestRevision=BOOL,
    percent=INT,
    url=STR,
)

SERVICE = obj(spec=obj(template=REVISION_TEMPLATE, traffic=arr(TRAFFIC_TARGET)), status=STATUS)
CONFIGURATION = obj(spec=obj(template=REVISION_TEMPLATE), status=STATUS)
REVISION = obj(spec=REVISION_SPEC, status=STATUS)
ROUTE = obj(spec=obj(traffic=arr(TRAFFIC_TARGET)), status=STATUS)

POD_AUTOSCALER = obj(
    spec=obj(
        scaleTargetRef=obj(apiVersion=STR, kind=STR, name=STR),
        containerConcurrency=INT,
        protocolType=STR,
        reachability=STR,
    ),
    status=STATUS,
)
