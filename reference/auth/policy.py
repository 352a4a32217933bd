"""EventPolicies as Knative applies them (knative/eventing pkg/auth: event_policy.go and verifier.go).

A policy applies to a resource when its `spec.to` is empty, names the resource (`ref`: group, kind and name,
case-insensitively) or selects it (`selector`: group, kind and labels), in the policy's namespace. An ingress
that receives a request while `authentication-oidc` is enabled:

- answers 401 when the request has no bearer token, or one that does not verify for the ingress's audience;
- with policies applied (its status.policies): lets the request in when the token's subject matches a subject
  of one of them (exactly, case-insensitively, or by a `*` suffix) and the event passes that policy's filters
  (the first policy whose subjects match decides, as Knative's SubjectAndFiltersPass does); else 403;
- with none: follows `default-authorization-mode`: allow-all, deny-all (403), or allow-same-namespace (the
  default: only ServiceAccounts of the resource's namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference.apis import conditions, selectors
from reference.auth.names import SERVICE_ACCOUNT_PREFIX
from reference.cloudevents.codec import Event
from reference.cloudevents.filters import compile_dialect

OIDC_FLAG = "authentication-oidc"
MODE_FLAG = "default-authorization-mode"
ALLOW_ALL, DENY_ALL, SAME_NAMESPACE = "allow-all", "deny-all", "allow-same-namespace"
MODE_NAMES = {ALLOW_ALL: "Allow-All", DENY_ALL: "Deny-All", SAME_NAMESPACE: "Allow-Same-Namespace"}
POLICY_API_VERSION = "eventing.knative.dev/v1alpha1"


@dataclass(frozen=True)
class Features:
    """The config-features flags sender identity reads (values as Knative parses them: case-insensitive)."""

    oidc: bool = False
    mode: str = SAME_NAMESPACE

    @classmethod
    def parse(cls, data: dict[str, str] | None) -> Features:
        data = {k: (v or "").strip().lower() for k, v in (data or {}).items()}
        mode = data.get(MODE_FLAG, SAME_NAMESPACE)
        return cls(oidc=data.get(OIDC_FLAG) == "enabled", mode=mode if mode in MODE_NAMES else SAME_NAMESPACE)


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def applies_to(policy: dict, group: str, kind: str, name: str, labels: dict[str, str] | None) -> bool:
    """Whether `policy` (in the resource's namespace) applies to the resource."""
    targets = (policy.get("spec") or {}).get("to") or []
    if not targets:
        return True
    for to in targets:
        ref, selector = to.get("ref"), to.get("selector")
        if ref and (ref.get("name", "").lower() == name.lower() and _group(ref.get("apiVersion", "")).lower()
                    == group.lower() and ref.get("kind", "").lower() == kind.lower()):
            return True
        if selector and (_group(selector.get("apiVersion", "")).lower() == group.lower()
                         and selector.get("kind", "").lower() == kind.lower()
                         and selectors.matches(selector, labels)):
            return True
    return False


def applying(policies: list[dict], group: str, kind: str, namespace: str, name: str,
             labels: dict[str, str] | None) -> list[dict]:
    """The policies of `namespace` that apply to the resource, by name (GetEventPoliciesForResource)."""
    found = [p for p in policies if p["metadata"].get("namespace") == namespace
             and applies_to(p, group, kind, name, labels)]
    return sorted(found, key=lambda p: p["metadata"]["name"])


def applied_status(features: Features, policies: list[dict]) -> tuple[list[dict], conditions.Condition]:
    """(status.policies, the EventPoliciesReady condition) of a resource the policies apply to
    (UpdateStatusWithProvidedEventPolicies)."""
    if not policies:
        if features.oidc:
            return [], conditions.condition("EventPoliciesReady", True, "DefaultAuthorizationMode",
                                            f'Default authz mode is "{MODE_NAMES[features.mode]}"')
        return [], conditions.condition("EventPoliciesReady", True, "OIDCDisabled",
                                        f'Feature "{OIDC_FLAG}" must be enabled to support Authorization')
    ready = [p for p in policies if conditions.is_true(p)]
    unready = [p["metadata"]["name"] for p in policies if not conditions.is_true(p)]
    refs = [{"name": p["metadata"]["name"], "apiVersion": POLICY_API_VERSION} for p in ready]
    if unready:
        return refs, conditions.condition("EventPoliciesReady", False, "EventPoliciesNotReady",
                                          f"event policies {', '.join(unready)} are not ready")
    return refs, conditions.condition("EventPoliciesReady", True)


def subject_matches(pattern: str, subject: str) -> bool:
    if pattern.lower() == subject.lower():
        return True
    return pattern.endswith("*") and subject.startswith(pattern[:-1])


def _filters(policy: dict) -> Callable[[Event], bool]:
    compiled = [compile_dialect(f) for f in (policy.get("spec") or {}).get("filters") or []]
    return lambda event: all(test(event) for test in compiled)


@dataclass(frozen=True)
class Decision:
    status: int  # 200 (let in), 401 or 403
    reason: str

    @property
    def allowed(self) -> bool:
        return self.status == 200


def authorize(subject: str, namespace: str, policies: list[dict], event: Event, features: Features) -> Decision:
    """Whether a verified `subject` may send `event` to a resource of `namespace` whose applied policies
    (their objects, with status.from resolved) are `policies`."""
    if policies:
        for policy in policies:
            if any(subject_matches(s, subject) for s in (policy.get("status") or {}).get("from") or []):
                if _filters(policy)(event):
                    return Decision(200, f"allowed by EventPolicy {policy['metadata']['name']}")
                return Decision(403, f"the event does not pass the filters of EventPolicy "
                                     f"{policy['metadata']['name']}")
        names = ", ".join(p["metadata"]["name"] for p in policies)
        return Decision(403, f"token is from subject {subject!r}, which no applying event policy ({names}) allows")
    if features.mode == DENY_ALL:
        return Decision(403, f"no event policies apply for resource and {MODE_FLAG} is set to Deny-All")
    if features.mode == SAME_NAMESPACE and not subject.startswith(f"{SERVICE_ACCOUNT_PREFIX}:{namespace}:"):
        return Decision(403, f"no policies apply for resource. {MODE_FLAG} is set to Allow-Same-Namespace, but "
                             f"token is from subject {subject!r}, which is not part of {namespace!r} namespace")
    return Decision(200, "default authorization mode")


def bearer(headers: Any) -> str:
    """The JWT of an `Authorization: Bearer` header, or "" (auth.GetJWTFromHeader)."""
    value = headers.get("Authorization", "") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
