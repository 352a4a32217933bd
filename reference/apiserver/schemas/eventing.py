"""eventing.knative.dev/v1 and messaging.knative.dev/v1 schemas, and Knative Kafka's KafkaSink
(eventing.knative.dev/v1alpha1)."""

from reference.apiserver.schemas.duck import DELIVERY, DESTINATION, KREFERENCE, STATUS
from reference.apiserver.schemas.schema import ANY, INT, STR, arr, enum, mapof, obj

BROKER = obj(spec=obj(config=KREFERENCE, delivery=DELIVERY), status=STATUS)

# The nested dialects (all/any/not) recurse; like Knative's CRD we keep them open and let the
# admission code check them.
FILTER = obj(
    exact=mapof(STR),
    prefix=mapof(STR),
    suffix=mapof(STR),
    all=arr(ANY),
    any=arr(ANY),
    **{"not": ANY},
    cesql=STR,
    cel=STR,  # kproof's extension dialect
)

TRIGGER = obj(
    spec=obj(
        broker=STR,
        filter=obj(attributes=mapof(STR)),
        filters=arr(FILTER),
        subscriber=DESTINATION,
        delivery=DELIVERY,
    ),
    status=STATUS,
)

SUBSCRIBER_SPEC = obj(
    uid=STR, generation=ANY, subscriberUri=STR, replyUri=STR, subscriberCACerts=STR, replyCACerts=STR,
    delivery=DELIVERY,
)

CHANNEL_TEMPLATE = obj(apiVersion=STR, kind=STR, spec=ANY)

CHANNEL = obj(
    spec=obj(channelTemplate=CHANNEL_TEMPLATE, subscribers=arr(SUBSCRIBER_SPEC), delivery=DELIVERY),
    status=STATUS,
)
IN_MEMORY_CHANNEL = obj(spec=obj(subscribers=arr(SUBSCRIBER_SPEC), delivery=DELIVERY), status=STATUS)

SUBSCRIPTION = obj(
    spec=obj(channel=KREFERENCE, subscriber=DESTINATION, reply=DESTINATION, delivery=DELIVERY),
    status=STATUS,
)

KAFKA_SINK = obj(
    spec=obj(
        topic=STR,
        numPartitions=INT,
        replicationFactor=INT,
        bootstrapServers=arr(STR),
        contentMode=enum("binary", "structured"),
        auth=obj(secret=obj(ref=obj(name=STR))),
    ),
    status=STATUS,
)
