"""Knative's duck types: references, destinations, delivery and CloudEvent overrides."""

from reference.apiserver.schemas.k8s import CONDITION
from reference.apiserver.schemas.schema import INT, STR, arr, enum, mapof, obj, open_obj

KREFERENCE = obj(apiVersion=STR, kind=STR, name=STR, namespace=STR, group=STR, address=STR)

DESTINATION = obj(ref=KREFERENCE, uri=STR, CACerts=STR, audience=STR)

DELIVERY = obj(
    deadLetterSink=DESTINATION,
    retry=INT,
    backoffPolicy=enum("linear", "exponential"),
    backoffDelay=STR,
    timeout=STR,
    retryAfterMax=STR,
    format=STR,
)

CE_OVERRIDES = obj(extensions=mapof(STR))

# Status is written by controllers; known fields are typed, the rest are kept as they are.
STATUS = open_obj(observedGeneration=INT, conditions=arr(CONDITION), annotations=mapof(STR))
