"""EventPolicy's reconciler (knative/eventing pkg/reconciler/eventpolicy): AuthenticationEnabled follows the
`authentication-oidc` feature; with it on, `spec.from` resolves into status.from: a `sub` as it is, a `ref` to
the subjects of the ServiceAccounts the referenced object sends as (its status.auth), SubjectsResolved False
when one does not resolve."""

from __future__ import annotations

from collections.abc import Iterable

from reference.apis import conditions
from reference.apis.objects import is_deleting
from reference.auth.names import subject
from reference.eventing import identity
from reference.reconciler.controller import Controller, Key, Watch, own_key

# Kinds a `from.ref` names (the senders that have an identity): a change to one may change what resolves.
SENDERS = (("sources.knative.dev", "v1", "pingsources"), ("sources.knative.dev", "v1", "apiserversources"),
           ("sources.knative.dev", "v1", "containersources"), ("sources.knative.dev", "v1", "sinkbindings"),
           ("sources.knative.dev", "v1beta1", "kafkasources"), ("eventing.knative.dev", "v1", "triggers"),
           ("messaging.knative.dev", "v1", "subscriptions"))


class Unresolved(LookupError):
    pass


class EventPolicyReconciler(Controller):
    name = "eventpolicy-controller"

    def __init__(self, registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require(*identity.POLICIES)

    def watches(self) -> list[Watch]:
        def every(_: dict) -> Iterable[Key]:
            return [(e.obj["metadata"]["namespace"], e.obj["metadata"]["name"])
                    for e in self.registry.store.entries(self.kind.resource)]
        senders = [k for k in (self.registry.kinds.by_path(*p) for p in SENDERS) if k is not None]
        return [Watch(self.kind, own_key), *(Watch(k, every) for k in senders),
                *identity.identity_watches(self.registry, self.kind)]

    def _subjects_of(self, ref: dict, namespace: str) -> list[str]:
        kind = self.registry.kinds.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        target = self.get(kind, ref.get("namespace") or namespace, ref.get("name", "")) if kind else None
        where = f"{ref.get('kind')} {ref.get('namespace') or namespace}/{ref.get('name')}"
        if target is None:
            raise Unresolved(f"could not resolve subjects from reference: could not resolve auth status: {where} "
                             "not found")
        auth = (target.get("status") or {}).get("auth")
        if not auth:
            raise Unresolved(f"could not resolve subjects from reference: could not resolve auth status: {where} "
                             "does not have an auth status")
        accounts = list(auth.get("serviceAccountNames") or [])
        if auth.get("serviceAccountName"):
            accounts.append(auth["serviceAccountName"])
        return [subject(ref.get("namespace") or namespace, account) for account in accounts]

    async def reconcile(self, key: Key) -> float | None:
        policy = self.get(self.kind, *key)
        if policy is None or is_deleting(policy):
            return None
        previous = policy.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "from")}
        status["observedGeneration"] = policy["metadata"].get("generation")
        if not identity.features(self.registry).oidc:
            parts = [conditions.condition("AuthenticationEnabled", False, "OIDCAuthenticationDisabled"),
                     conditions.condition("SubjectsResolved", None)]
        else:
            subjects: list[str] = []
            try:
                for entry in (policy.get("spec") or {}).get("from") or []:
                    if entry.get("ref"):
                        subjects += self._subjects_of(entry["ref"], key[0])
                    elif entry.get("sub"):
                        subjects.append(entry["sub"])
                resolved = conditions.condition("SubjectsResolved", True)
                if subjects:
                    status["from"] = subjects
            except Unresolved as err:
                resolved = conditions.condition("SubjectsResolved", False, "SubjectsNotResolved", str(err))
            parts = [conditions.condition("AuthenticationEnabled", True), resolved]
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)], previous.get("conditions"))
        self.write_status(self.kind, policy, status)
        return None
