"""ServiceAccounts, rbac.authorization.k8s.io's Roles and bindings, and apiextensions.k8s.io's
CustomResourceDefinitions, stored as Kubernetes stores them."""

from reference.apiserver.schemas.schema import ANY, BOOL, STR, arr, obj, open_obj

SERVICE_ACCOUNT = obj(secrets=arr(open_obj(name=STR)), imagePullSecrets=arr(obj(name=STR)),
                      automountServiceAccountToken=BOOL)
RULE = obj(apiGroups=arr(STR), resources=arr(STR), verbs=arr(STR), resourceNames=arr(STR),
           nonResourceURLs=arr(STR))
ROLE = obj(rules=arr(RULE))
CLUSTER_ROLE = obj(rules=arr(RULE), aggregationRule=ANY)
ROLE_BINDING = obj(roleRef=obj(apiGroup=STR, kind=STR, name=STR),
                   subjects=arr(obj(kind=STR, apiGroup=STR, name=STR, namespace=STR)))
CUSTOM_RESOURCE_DEFINITION = obj(spec=open_obj(), status=open_obj())
