"""RBAC's authorizer over the stored Roles, ClusterRoles and their bindings: whether a user may use a verb on
a resource in a namespace (what a SubjectAccessReview answers). Rules match by apiGroups, resources and verbs,
`*` matching any; a rule with resourceNames never allows a request for a whole collection. Subjects match a
ServiceAccount by name and namespace, a User by name, and the groups every ServiceAccount is in
(`system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`). An aggregated ClusterRole
has the rules of the ClusterRoles its aggregationRule selects."""

from __future__ import annotations

from reference.apis import selectors
from reference.apiserver.store import Store

ROLES, CLUSTER_ROLES = "rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/clusterroles"
BINDINGS, CLUSTER_BINDINGS = "rbac.authorization.k8s.io/rolebindings", "rbac.authorization.k8s.io/clusterrolebindings"
SERVICE_ACCOUNT_USER = "system:serviceaccount:"


def _groups(user: str) -> set[str]:
    groups = {"system:authenticated"}
    if user.startswith(SERVICE_ACCOUNT_USER):
        namespace = user[len(SERVICE_ACCOUNT_USER):].split(":", 1)[0]
        groups |= {"system:serviceaccounts", f"system:serviceaccounts:{namespace}"}
    return groups


def subject_matches(subject: dict, user: str, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "ServiceAccount":
        return user == f"{SERVICE_ACCOUNT_USER}{subject.get('namespace') or binding_namespace}:{name}"
    if kind == "User":
        return user == name
    if kind == "Group":
        return name in _groups(user)
    return False


def rule_allows(rule: dict, verb: str, group: str, resource: str, name: str = "") -> bool:
    def has(values: list | None, wanted: str) -> bool:
        return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]
    names = rule.get("resourceNames")
    if names and name not in names:
        return False  # names a few objects: no list, no watch, no request for an unnamed or other object
    return has(rule.get("verbs"), verb) and has(rule.get("apiGroups"), group) and has(rule.get("resources"), resource)


def cluster_role_rules(store: Store, role: dict) -> list[dict]:
    """A ClusterRole's rules: with an aggregationRule, those of every ClusterRole its selectors match (what
    kube-controller-manager's aggregation controller writes into it), besides its own."""
    rules = list(role.get("rules") or [])
    selectors_ = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    if selectors_:
        for entry in store.entries(CLUSTER_ROLES):
            other = entry.obj
            if other["metadata"]["name"] != role["metadata"]["name"] and any(
                    selectors.matches(s, other["metadata"].get("labels")) for s in selectors_):
                rules += other.get("rules") or []
    return rules


def allowed(store: Store, user: str, verb: str, group: str, resource: str, namespace: str, name: str = "") -> bool:
    """Whether `user` may `verb` the `resource` (`pods`, `pods/log`) of `group` in `namespace` (the object
    `name`, when the request names one)."""
    def rules_of(ref: dict, binding_namespace: str) -> list[dict]:
        if ref.get("kind") == "ClusterRole":
            role = store.get(CLUSTER_ROLES, "", ref.get("name", ""))
            return cluster_role_rules(store, role) if role is not None else []
        role = store.get(ROLES, binding_namespace, ref.get("name", ""))
        return (role or {}).get("rules") or []

    bindings = [(b, "") for b in (e.obj for e in store.entries(CLUSTER_BINDINGS))]
    bindings += [(b, namespace) for b in (e.obj for e in store.entries(BINDINGS, namespace))]
    for binding, binding_namespace in bindings:
        if not any(subject_matches(s, user, binding_namespace) for s in binding.get("subjects") or []):
            continue
        if any(rule_allows(r, verb, group, resource, name) for r in rules_of(binding.get("roleRef") or {},
                                                                             binding_namespace)):
            return True
    return False
