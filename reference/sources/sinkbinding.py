"""SinkBinding's reconciler (knative/eventing pkg/reconciler/sinkbinding over knative.dev/pkg's psbinding): it
resolves the sink into status.sinkUri (re-resolving when the sink moves), then brings every subject it names
(a PodSpecable object of its namespace, by name or by selector) to carry K_SINK and K_CE_OVERRIDES, through the
same mutation the admission webhook applies to subjects as they are written
(reference.apiserver.admission.bindings). Deleting the binding takes the variables out again (a finalizer
holds it until then).

Conditions as Knative sets them: SinkProvided (NoAddressable when the sink does not resolve),
SinkBindingAvailable (SubjectMissing when a named subject does not exist), OIDCIdentityCreated and
OIDCTokenSecretCreated (true, with a reason, while sender identity is off or the sink has no audience),
TrustBundlePropagated, Ready. With sender identity on and a sink that has an audience, the binding gets its
OIDC ServiceAccount and a Secret `<name>-oidc-token` holding a token for the sink (status.oidcTokenSecretName).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from reference.apis import conditions, selectors
from reference.apis.objects import is_deleting
from reference.apiserver.admission.bindings import do, pod_spec, undo
from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.auth.names import OIDC_LABEL, child_name
from reference.auth.provider import TokenProvider
from reference.eventing import identity
from reference.eventing.resolver import Unresolvable, destination_watches, resolve, resolve_audience
from reference.reconciler.controller import Controller, Key, Watch, own_key

GROUP, KIND = "sources.knative.dev", "SinkBinding"
FINALIZER = "sinkbindings.sources.knative.dev"
SUBJECT_KINDS = (("apps", "v1", "deployments"), ("batch", "v1", "jobs"), ("batch", "v1", "cronjobs"),
                 ("serving.knative.dev", "v1", "services"))
UNRESOLVED_RETRY = 2.0


class SinkBindingReconciler(Controller):
    name = "sinkbinding-controller"

    def __init__(self, registry, tokens: TokenProvider | None = None) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require(GROUP, "v1", "sinkbindings")
        self.secrets = registry.kinds.require("", "v1", "secrets")
        self.tokens = tokens

    def watches(self) -> list[Watch]:
        def bindings_in_namespace(obj: dict) -> Iterable[Key]:
            namespace = obj["metadata"].get("namespace", "")
            return [(namespace, e.obj["metadata"]["name"])
                    for e in self.registry.store.entries(self.kind.resource, namespace)]
        subjects = [k for k in (self.registry.kinds.by_path(*p) for p in SUBJECT_KINDS) if k is not None]
        return [Watch(self.kind, own_key), *(Watch(k, bindings_in_namespace) for k in subjects),
                *destination_watches(self.registry, self.kind), *identity.identity_watches(self.registry, self.kind)]

    def _subjects(self, binding: dict) -> tuple[Kind | None, list[dict], str]:
        """(the subject kind, the subjects it names now, why a named one is missing)."""
        subject = (binding.get("spec") or {}).get("subject") or {}
        kind = self.registry.kinds.by_kind(subject.get("apiVersion", ""), subject.get("kind", ""))
        namespace = subject.get("namespace") or binding["metadata"]["namespace"]
        if kind is None:
            return None, [], f"the server doesn't have a resource type for {subject.get('kind')} " \
                             f"({subject.get('apiVersion')})"
        if subject.get("name"):
            found = self.get(kind, namespace, subject["name"])
            if found is None:
                return kind, [], f'{kind.qualified} "{subject["name"]}" not found'
            return kind, [found], ""
        return kind, [e.obj for e in self.registry.store.entries(kind.resource, namespace)
                      if selectors.matches(subject.get("selector"), e.obj["metadata"].get("labels"))], ""

    def _patch(self, kind: Kind, subject: dict, binding: dict | None) -> None:
        """The subject with the binding's variables (or without them), written only when that changes it."""
        updated = copy.deepcopy(subject)
        spec = pod_spec(updated)
        if spec is None:
            return
        if binding is None:
            undo(spec)
        else:
            do(spec, binding)
        if updated != subject:
            meta = subject["metadata"]
            self.registry.update(kind, meta["namespace"], meta["name"], updated, self.opts)

    async def _oidc(self, binding: dict, status: dict, flags: identity.Features) -> list[dict]:
        meta = binding["metadata"]
        secret_name = child_name(meta["name"], "-oidc-token")
        audience = status.get("sinkAudience")
        if flags.oidc and audience:
            account, created = identity.ensure_identity(self, binding, GROUP, KIND, flags)
            status["auth"] = {"serviceAccountName": account}
            if created["status"] != "True" or account is None or self.tokens is None:
                return [created, conditions.condition("OIDCTokenSecretCreated", None)]
            token = await self.tokens.token(meta["namespace"], account, audience)
            secret: dict = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                      "metadata": {"name": secret_name, "namespace": meta["namespace"],
                                   "labels": {OIDC_LABEL: "enabled"},
                                   "ownerReferences": [{"apiVersion": f"{GROUP}/v1", "kind": KIND,
                                                        "name": meta["name"], "uid": meta["uid"], "controller": True,
                                                        "blockOwnerDeletion": False}]},
                      "stringData": {"token": token}}
            current = self.get(self.secrets, meta["namespace"], secret_name)
            if current is None:
                self.registry.create(self.secrets, meta["namespace"], secret, self.opts)
            else:
                self.registry.update(self.secrets, meta["namespace"], secret_name,
                                     {**secret, "metadata": {**current["metadata"], **secret["metadata"]}}, self.opts)
            status["oidcTokenSecretName"] = secret_name
            return [created, conditions.condition("OIDCTokenSecretCreated", True)]
        reason = f"{identity.OIDC_FLAG} feature disabled" if not flags.oidc else "Sink has no audience defined"
        if not flags.oidc:
            identity.ensure_identity(self, binding, GROUP, KIND, flags)
        if status.pop("oidcTokenSecretName", None) and self.get(self.secrets, meta["namespace"], secret_name):
            self.registry.delete(self.secrets, meta["namespace"], secret_name, {}, self.opts)
        return [conditions.condition("OIDCIdentityCreated", True, reason),
                conditions.condition("OIDCTokenSecretCreated", True, reason)]

    async def reconcile(self, key: Key) -> float | None:
        binding = self.get(self.kind, *key)
        if binding is None:
            return None
        if is_deleting(binding):
            kind, subjects, _ = self._subjects(binding)
            for subject in subjects:
                assert kind is not None  # a subject was found, so its kind is served
                self._patch(kind, subject, None)
            self.remove_finalizer(self.kind, binding, FINALIZER)
            return None
        binding = self.add_finalizer(self.kind, binding, FINALIZER)
        spec = binding.get("spec") or {}
        flags = identity.features(self.registry)
        previous = binding.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "sinkUri", "sinkAudience", "auth")}
        status["observedGeneration"] = binding["metadata"].get("generation")
        parts = [conditions.condition("TrustBundlePropagated", True)]
        try:
            status["sinkUri"] = resolve(spec.get("sink"), key[0], self.registry.store, self.registry.kinds)
        except Unresolvable as err:
            parts += [conditions.condition("SinkProvided", False, "NoAddressable",
                                           f"Addressable could not be extracted from destination: {err}"),
                      conditions.condition("SinkBindingAvailable", None), conditions.condition("OIDCIdentityCreated",
                                                                                             None),
                      conditions.condition("OIDCTokenSecretCreated", None)]
            status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                    previous.get("conditions"))
            self.write_status(self.kind, binding, status)
            return UNRESOLVED_RETRY
        audience = resolve_audience(spec.get("sink"), key[0], self.registry.store, self.registry.kinds)
        if audience:
            status["sinkAudience"] = audience
        parts.append(conditions.condition("SinkProvided", True))
        parts += await self._oidc(binding, status, flags)
        # The webhook reads the resolved sink from the status: it is written before the subjects are.
        binding = self.write_status(self.kind, binding, {**status, "conditions": previous.get("conditions") or []})
        kind, subjects, missing = self._subjects(binding)
        if missing:
            parts.append(conditions.condition("SinkBindingAvailable", False, "SubjectMissing", missing))
        else:
            try:
                for subject in subjects:
                    assert kind is not None  # a subject was found, so its kind is served
                    self._patch(kind, subject, binding)
                parts.append(conditions.condition("SinkBindingAvailable", True))
            except ApiError as err:
                parts.append(conditions.condition("SinkBindingAvailable", False, "BindingFailed", err.message))
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)], previous.get("conditions"))
        self.write_status(self.kind, binding, status)
        return None
