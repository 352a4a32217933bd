"""flows.knative.dev/v1 (Sequence, Parallel) and eventing.knative.dev/v1alpha1's EventTransform and
RequestReply, as Knative's CRDs declare them."""

from reference.apiserver.schemas.duck import DELIVERY, DESTINATION, KREFERENCE, STATUS
from reference.apiserver.schemas.eventing import CHANNEL_TEMPLATE
from reference.apiserver.schemas.schema import BOOL, STR, arr, obj

SEQUENCE_STEP = obj(ref=KREFERENCE, uri=STR, CACerts=STR, audience=STR, delivery=DELIVERY)

SEQUENCE = obj(spec=obj(steps=arr(SEQUENCE_STEP), channelTemplate=CHANNEL_TEMPLATE, reply=DESTINATION),
               status=STATUS)

PARALLEL_BRANCH = obj(filter=DESTINATION, subscriber=DESTINATION, reply=DESTINATION, delivery=DELIVERY)

PARALLEL = obj(spec=obj(branches=arr(PARALLEL_BRANCH), channelTemplate=CHANNEL_TEMPLATE, reply=DESTINATION),
               status=STATUS)

JSONATA = obj(expression=STR)

EVENT_TRANSFORM = obj(
    spec=obj(sink=DESTINATION, jsonata=JSONATA, reply=obj(jsonata=JSONATA, discard=BOOL)),
    status=STATUS,
)

REQUEST_REPLY = obj(
    spec=obj(brokerRef=KREFERENCE, correlationAttribute=STR, replyAttribute=STR, timeout=STR, delivery=DELIVERY),
    status=STATUS,
)
