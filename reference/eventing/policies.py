"""EventPoliciesReady for a kind that no EventPolicy applies to, as Knative's
auth.UpdateStatusWithProvidedEventPolicies sets it: True, with a reason that says why."""

from __future__ import annotations

from reference.apis import conditions
from reference.apiserver.registry import Registry

OIDC_FLAG = "authentication-oidc"
FEATURES = ("knative-eventing", "config-features")


def event_policies_ready(features: dict[str, str]) -> conditions.Condition:
    if features.get(OIDC_FLAG, "disabled") == "enabled":
        mode = features.get("default-authorization-mode", "allow-same-namespace")
        return conditions.condition("EventPoliciesReady", True, "DefaultAuthorizationMode",
                                    f'Default authz mode is "{mode}"')
    return conditions.condition("EventPoliciesReady", True, "OIDCDisabled",
                                f'Feature "{OIDC_FLAG}" must be enabled to support Authorization')


def features(registry: Registry) -> dict[str, str]:
    """config-features, its values trimmed and lower-cased as Knative reads flags."""
    kind = registry.kinds.require("", "v1", "configmaps")
    data = (registry.store.get(kind.resource, *FEATURES) or {}).get("data") or {}
    return {k: str(v).strip().lower() for k, v in data.items()}
