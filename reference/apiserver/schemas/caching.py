"""caching.internal.knative.dev: knative/caching's Image (v1alpha1), an image a cluster keeps warm so that Pods
naming it start without pulling it (seed 004's image caches)."""

from reference.apiserver.schemas.duck import STATUS
from reference.apiserver.schemas.schema import STR, arr, obj

IMAGE = obj(
    spec=obj(image=STR, serviceAccountName=STR, imagePullSecrets=arr(obj(name=STR))),
    status=STATUS,
)
