"""sources.knative.dev schemas: ContainerSource, PingSource (v1) and KafkaSource (v1beta1, and v1alpha1
with comma-separated strings for bootstrapServers and topics)."""

from reference.apiserver.schemas.duck import CE_OVERRIDES, DELIVERY, DESTINATION, STATUS
from reference.apiserver.schemas.k8s import POD_SPEC, TEMPLATE_METADATA
from reference.apiserver.schemas.schema import ANY, INT, STR, arr, enum, obj, open_obj

SOURCE_FIELDS = dict(sink=DESTINATION, ceOverrides=CE_OVERRIDES)

CONTAINER_SOURCE = obj(
    spec=obj(template=obj(metadata=TEMPLATE_METADATA, spec=POD_SPEC), **SOURCE_FIELDS),
    status=STATUS,
)

PING_SOURCE = obj(
    spec=obj(
        schedule=STR, timezone=STR, contentType=STR, data=STR, dataBase64=STR, **SOURCE_FIELDS
    ),
    status=STATUS,
)

KAFKA_SOURCE_FIELDS = dict(
    consumerGroup=STR,
    initialOffset=enum("earliest", "latest"),
    consumers=INT,
    ordering=enum("ordered", "unordered"),
    net=ANY,
    delivery=DELIVERY,
    **SOURCE_FIELDS,
)
KAFKA_SOURCE = obj(spec=obj(bootstrapServers=arr(STR), topics=arr(STR), **KAFKA_SOURCE_FIELDS), status=STATUS)
KAFKA_SOURCE_V1ALPHA1 = obj(spec=obj(bootstrapServers=STR, topics=STR, **KAFKA_SOURCE_FIELDS), status=STATUS)

API_SERVER_SOURCE = obj(
    spec=obj(
        resources=arr(obj(apiVersion=STR, kind=STR, selector=open_obj(matchLabels=ANY, matchExpressions=ANY))),
        owner=obj(apiVersion=STR, kind=STR),
        mode=STR,
        serviceAccountName=STR,
        namespaceSelector=open_obj(matchLabels=ANY, matchExpressions=ANY),
        filters=arr(ANY),
        **SOURCE_FIELDS,
    ),
    status=STATUS,
)

SINK_BINDING = obj(
    spec=obj(
        subject=obj(apiVersion=STR, kind=STR, namespace=STR, name=STR,
                    selector=open_obj(matchLabels=ANY, matchExpressions=ANY)),
        **SOURCE_FIELDS,
    ),
    status=STATUS,
)
