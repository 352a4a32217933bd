"""scheduling.alibabacloud.com: ACK's ResourcePolicy (v1alpha1), the ordered pools seed 004 uses."""

from reference.apiserver.schemas.schema import ANY, BOOL, INT, STR, arr, mapof, obj

UNIT = obj(resource=STR, nodeSelector=mapof(STR), max=INT, podLabels=mapof(STR), podAnnotations=mapof(STR),
           spec=ANY)

RESOURCE_POLICY = obj(
    spec=obj(
        selector=mapof(STR), strategy=STR, units=arr(UNIT), preemptPolicy=STR, ignorePreviousPod=BOOL,
        ignoreTerminatingPod=BOOL, matchLabelKeys=arr(STR), whenTryNextUnits=obj(policy=STR, timeout=STR),
    ),
    status=ANY,
)
