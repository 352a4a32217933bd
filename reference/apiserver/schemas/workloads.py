"""apps/v1 Deployment and batch/v1 Job and CronJob: the fields their controllers act on are typed; a pod
template's spec keeps every field it is given, as a Pod's does."""

from reference.apiserver.schemas.k8s import POD, TEMPLATE_METADATA
from reference.apiserver.schemas.schema import ANY, BOOL, INT, STR, obj, open_obj

POD_TEMPLATE = obj(metadata=TEMPLATE_METADATA, spec=(POD.properties or {})["spec"])
SELECTOR = open_obj(matchLabels=ANY, matchExpressions=ANY)

DEPLOYMENT = obj(
    spec=obj(replicas=INT, selector=SELECTOR, template=POD_TEMPLATE, strategy=ANY, minReadySeconds=INT,
             revisionHistoryLimit=INT, progressDeadlineSeconds=INT, paused=BOOL),
    status=ANY,
)

JOB_SPEC = obj(
    parallelism=INT, completions=INT, activeDeadlineSeconds=INT, backoffLimit=INT, backoffLimitPerIndex=INT,
    maxFailedIndexes=INT, podFailurePolicy=ANY, successPolicy=ANY, selector=SELECTOR, manualSelector=BOOL,
    template=POD_TEMPLATE, ttlSecondsAfterFinished=INT, completionMode=STR, suspend=BOOL,
    podReplacementPolicy=STR, managedBy=STR,
)
JOB = obj(spec=JOB_SPEC, status=ANY)

CRON_JOB = obj(
    spec=obj(schedule=STR, timeZone=STR, startingDeadlineSeconds=INT, concurrencyPolicy=STR, suspend=BOOL,
             jobTemplate=obj(metadata=TEMPLATE_METADATA, spec=JOB_SPEC), successfulJobsHistoryLimit=INT,
             failedJobsHistoryLimit=INT),
    status=ANY,
)
