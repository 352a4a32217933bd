"""knative.dev/networking's Ingress (networking.internal.knative.dev/v1alpha1, a "KIngress": what a Knative
networking layer serves), discovery.k8s.io's EndpointSlice and core Endpoints (a Service's addresses, which
such a layer, and test frameworks waiting for a Service, read)."""

from reference.apiserver.schemas.duck import STATUS
from reference.apiserver.schemas.schema import BOOL, INT, INT_OR_STR, STR, arr, mapof, merge, obj

SPLIT = obj(serviceName=STR, serviceNamespace=STR, servicePort=INT_OR_STR, percent=INT, appendHeaders=mapof(STR))
HEADER_MATCH = obj(exact=STR)
INGRESS_PATH = obj(
    path=STR, headers=mapof(HEADER_MATCH), splits=arr(SPLIT), appendHeaders=mapof(STR), rewriteHost=STR)
INGRESS_RULE = obj(hosts=arr(STR), visibility=STR, http=obj(paths=arr(INGRESS_PATH)))
LOAD_BALANCER = obj(ingress=arr(obj(ip=STR, domain=STR, domainInternal=STR, meshOnly=BOOL)))
INGRESS = obj(
    spec=obj(
        tls=arr(obj(hosts=arr(STR), secretName=STR, secretNamespace=STR)),
        rules=arr(INGRESS_RULE),
        httpOption=STR,
    ),
    status=merge(STATUS, publicLoadBalancer=LOAD_BALANCER, privateLoadBalancer=LOAD_BALANCER),
)

ENDPOINT_SLICE = obj(
    addressType=STR,
    endpoints=arr(obj(
        addresses=arr(STR),
        conditions=obj(ready=BOOL, serving=BOOL, terminating=BOOL),
        hostname=STR, nodeName=STR, zone=STR,
        targetRef=obj(kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR, resourceVersion=STR),
    )),
    ports=arr(obj(name=STR, port=INT, protocol=STR, appProtocol=STR)),
)

TARGET_REF = obj(kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR, resourceVersion=STR)
ENDPOINT_ADDRESS = obj(ip=STR, hostname=STR, nodeName=STR, targetRef=TARGET_REF)
ENDPOINTS = obj(subsets=arr(obj(
    addresses=arr(ENDPOINT_ADDRESS), notReadyAddresses=arr(ENDPOINT_ADDRESS),
    ports=arr(obj(name=STR, port=INT, protocol=STR, appProtocol=STR)),
)))
