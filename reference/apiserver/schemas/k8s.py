"""Kubernetes core shapes: the parts of a PodSpec that Knative allows, and the core kinds we serve."""

from reference.apiserver.schemas.schema import ANY, BOOL, INT, INT_OR_STR, STR, arr, enum, mapof, obj, open_obj

KEY_REF = obj(name=STR, key=STR, optional=BOOL)
NAME_REF = obj(name=STR, optional=BOOL)

ENV_VAR = obj(
    name=STR,
    value=STR,
    valueFrom=obj(
        configMapKeyRef=KEY_REF,
        secretKeyRef=KEY_REF,
        fieldRef=obj(apiVersion=STR, fieldPath=STR),
        resourceFieldRef=obj(containerName=STR, resource=STR, divisor=INT_OR_STR),
    ),
)
ENV_FROM = obj(prefix=STR, configMapRef=NAME_REF, secretRef=NAME_REF)

PROBE = obj(
    httpGet=obj(
        path=STR,
        port=INT_OR_STR,
        host=STR,
        scheme=STR,
        httpHeaders=arr(obj(name=STR, value=STR)),
    ),
    tcpSocket=obj(port=INT_OR_STR, host=STR),
    exec=obj(command=arr(STR)),
    grpc=obj(port=INT, service=STR),
    initialDelaySeconds=INT,
    timeoutSeconds=INT,
    periodSeconds=INT,
    successThreshold=INT,
    failureThreshold=INT,
    terminationGracePeriodSeconds=INT,
)

# Quantities of any JSON type: admission says what is wrong with one (as the API server does).
RESOURCES = obj(limits=mapof(ANY), requests=mapof(ANY), claims=arr(obj(name=STR)))

CONTAINER = obj(
    name=STR,
    image=STR,
    command=arr(STR),
    args=arr(STR),
    workingDir=STR,
    env=arr(ENV_VAR),
    envFrom=arr(ENV_FROM),
    ports=arr(obj(name=STR, containerPort=INT, protocol=STR, hostIP=STR, hostPort=INT)),
    resources=RESOURCES,
    volumeMounts=arr(obj(name=STR, mountPath=STR, readOnly=BOOL, subPath=STR, mountPropagation=STR)),
    readinessProbe=PROBE,
    livenessProbe=PROBE,
    startupProbe=PROBE,
    imagePullPolicy=enum("Always", "IfNotPresent", "Never"),
    securityContext=ANY,
    terminationMessagePath=STR,
    terminationMessagePolicy=STR,
    stdin=BOOL,
    tty=BOOL,
)

KEY_TO_PATH = obj(key=STR, path=STR, mode=INT)

VOLUME = obj(
    name=STR,
    configMap=obj(name=STR, items=arr(KEY_TO_PATH), defaultMode=INT, optional=BOOL),
    secret=obj(secretName=STR, items=arr(KEY_TO_PATH), defaultMode=INT, optional=BOOL),
    emptyDir=obj(medium=STR, sizeLimit=INT_OR_STR),
    persistentVolumeClaim=obj(claimName=STR, readOnly=BOOL),
    projected=ANY,
    csi=ANY,
)

# The PodSpec fields Knative's webhook lets a Revision set (some behind feature flags).
POD_SPEC_FIELDS = dict(
    containers=arr(CONTAINER),
    initContainers=arr(CONTAINER),
    volumes=arr(VOLUME),
    serviceAccountName=STR,
    automountServiceAccountToken=BOOL,
    imagePullSecrets=arr(obj(name=STR)),
    enableServiceLinks=BOOL,
    nodeSelector=mapof(STR),
    tolerations=arr(ANY),
    affinity=ANY,
    topologySpreadConstraints=arr(ANY),
    securityContext=ANY,
    runtimeClassName=STR,
    priorityClassName=STR,
    schedulerName=STR,
    hostAliases=arr(ANY),
    dnsPolicy=STR,
    dnsConfig=ANY,
    hostIPC=BOOL,
    hostNetwork=BOOL,
    hostPID=BOOL,
    shareProcessNamespace=BOOL,
)
POD_SPEC = obj(**POD_SPEC_FIELDS)

TEMPLATE_METADATA = obj(
    name=STR,
    generateName=STR,
    namespace=STR,
    labels=mapof(STR),
    annotations=mapof(STR),
    creationTimestamp=ANY,
)

CONDITION = open_obj(
    type=STR, status=STR, reason=STR, message=STR, severity=STR, lastTransitionTime=STR,
)

# Core kinds: whole-object schemas minus apiVersion/kind/metadata, which every kind shares.
NAMESPACE = obj(spec=obj(finalizers=arr(STR)), status=open_obj(phase=STR))
# A Pod keeps every field it is given; the few the API server and the kubelet act on have types.
POD = obj(spec=open_obj(containers=arr(open_obj(resources=open_obj(), volumeMounts=arr(open_obj()))),
                        initContainers=arr(open_obj(resources=open_obj(), volumeMounts=arr(open_obj()))),
                        volumes=arr(open_obj(name=STR)), nodeName=STR, terminationGracePeriodSeconds=INT,
                        restartPolicy=STR),
          status=ANY)
RESOURCE_QUOTA = obj(spec=obj(hard=mapof(ANY), scopes=arr(STR), scopeSelector=ANY),
                     status=obj(hard=mapof(ANY), used=mapof(ANY)))
LIMIT_RANGE_ITEM = obj(type=STR, max=mapof(ANY), min=mapof(ANY), default=mapof(ANY), defaultRequest=mapof(ANY),
                       maxLimitRequestRatio=mapof(ANY))
LIMIT_RANGE = obj(spec=obj(limits=arr(LIMIT_RANGE_ITEM)))
CONFIG_MAP = obj(data=mapof(STR), binaryData=mapof(STR), immutable=BOOL)
SECRET = obj(data=mapof(STR), stringData=mapof(STR), type=STR, immutable=BOOL)
EVENT = open_obj(
    involvedObject=obj(
        apiVersion=STR, kind=STR, name=STR, namespace=STR, uid=STR, resourceVersion=STR, fieldPath=STR
    ),
    reason=STR,
    message=STR,
    type=STR,
    count=INT,
    source=obj(component=STR, host=STR),
    firstTimestamp=ANY,
    lastTimestamp=ANY,
    eventTime=ANY,
    reportingComponent=STR,
    reportingInstance=STR,
    action=STR,
)
PERSISTENT_VOLUME_CLAIM = obj(spec=ANY, status=ANY)
TAINT = obj(key=STR, value=STR, effect=enum("NoSchedule", "PreferNoSchedule", "NoExecute"), timeAdded=ANY)
NODE = obj(spec=obj(podCIDR=STR, podCIDRs=arr(STR), providerID=STR, unschedulable=BOOL, taints=arr(TAINT),
                    configSource=ANY, externalID=STR), status=ANY)
LEASE = obj(spec=obj(holderIdentity=STR, leaseDurationSeconds=INT, acquireTime=ANY, renewTime=ANY,
                     leaseTransitions=INT, strategy=STR, preferredHolder=STR))
# Types and enums are checked by admission (reference.apiserver.admission.services), with Kubernetes' messages.
SERVICE_PORT = obj(name=STR, protocol=STR, appProtocol=STR, port=INT, targetPort=INT_OR_STR, nodePort=INT)
SERVICE = obj(
    spec=obj(type=STR, ports=arr(SERVICE_PORT), selector=mapof(STR), clusterIP=STR, clusterIPs=arr(STR),
             externalName=STR, externalIPs=arr(STR), sessionAffinity=STR, sessionAffinityConfig=ANY,
             loadBalancerIP=STR, loadBalancerSourceRanges=arr(STR), loadBalancerClass=STR,
             externalTrafficPolicy=STR, internalTrafficPolicy=STR, healthCheckNodePort=INT,
             publishNotReadyAddresses=BOOL, ipFamilies=arr(STR), ipFamilyPolicy=STR,
             allocateLoadBalancerNodePorts=BOOL, trafficDistribution=STR),
    status=open_obj(loadBalancer=ANY, conditions=arr(CONDITION)),
)
