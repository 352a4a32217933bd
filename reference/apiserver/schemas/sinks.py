"""sinks.knative.dev/v1alpha1 JobSink and eventing.knative.dev/v1alpha1 EventPolicy."""

from reference.apiserver.schemas.duck import STATUS
from reference.apiserver.schemas.k8s import TEMPLATE_METADATA
from reference.apiserver.schemas.schema import ANY, STR, arr, obj, open_obj
from reference.apiserver.schemas.workloads import JOB_SPEC

JOB_SINK = obj(spec=obj(job=obj(apiVersion=STR, kind=STR, metadata=TEMPLATE_METADATA, spec=JOB_SPEC)),
               status=STATUS)

SELECTOR = open_obj(apiVersion=STR, kind=STR, matchLabels=ANY, matchExpressions=ANY)
EVENT_POLICY = obj(
    spec=obj(
        to=arr(obj(ref=obj(apiVersion=STR, kind=STR, name=STR), selector=SELECTOR)),
        **{"from": arr(obj(ref=obj(apiVersion=STR, kind=STR, name=STR, namespace=STR), sub=STR))},
        filters=arr(ANY),
    ),
    status=STATUS,
)
