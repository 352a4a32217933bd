"""REST semantics over the store: metadata rules, admission, status, finalizers, garbage collection.

The HTTP layer turns requests into these calls; in-process controllers call them directly.
"""

from __future__ import annotations

import builtins
import copy
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from reference.apis import times
from reference.apiserver import errors, objectmeta, patch
from reference.apiserver.admission import ack
from reference.apiserver.admission.context import Context, Forbidden
from reference.apiserver.admission.fielderror import FieldError
from reference.apiserver.conversion import view_text
from reference.apiserver.decode import DecodeError, check_shape, decode_json, decode_yaml
from reference.apiserver.errors import ApiError, Cause
from reference.apiserver.kinds import Kind, Kinds
from reference.apiserver.schemas.schema import Findings, describe_value, walk
from reference.apiserver.selectors import Predicate
from reference.apiserver.store import Store

_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"

# ObjectMeta fields a client may send; anything else is unknown.
_META_FIELDS = {
    "name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
    "finalizers", "managedFields", "selfLink",
}
# Fields the server owns: whatever a client sends there is replaced.
_SERVER_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")

FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")


@dataclass
class Options:
    """Per-request options: who asks, how strictly, and whether to persist."""

    user: str = "kproof:admin"
    field_validation: str = "Warn"
    dry_run: bool = False
    field_manager: str = ""
    force: bool = False
    warnings: list[str] = field(default_factory=list)


def _body_without(obj: dict, *keys: str) -> dict:
    return {k: v for k, v in obj.items() if k not in keys}


class Registry:
    def __init__(self, store: Store, kinds: Kinds | None = None,
                 clock: Callable[[], str] = times.now) -> None:
        self.store = store
        self.kinds = kinds or Kinds()
        self._clock = clock
        self._namespaces = self.kinds.require("", "v1", "namespaces")
        self._configmaps = self.kinds.require("", "v1", "configmaps")

    # Helpers -------------------------------------------------------------------------------------

    def read_config(self, namespace: str, name: str) -> dict[str, str]:
        entry = self.store.entry(self._configmaps.resource, namespace, name)
        return dict(entry.obj.get("data") or {}) if entry else {}

    def _context(self, operation: str, opts: Options) -> Context:
        return Context(operation, opts.user, self.read_config,
                       lambda resource: [e.obj for e in self.store.entries(resource)])

    def _check_namespace(self, kind: Kind, namespace: str) -> None:
        if kind.namespaced and self.store.entry(self._namespaces.resource, "", namespace) is None:
            raise errors.not_found("namespaces", "", namespace)

    def _schema_check(self, kind: Kind, obj: dict, opts: Options) -> None:
        """Unknown fields (strict: 400, warn: a warning; both drop them), then wrong types (422)."""
        findings = Findings()
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            for name in [n for n in meta if n not in _META_FIELDS]:
                findings.unknown.append(f"metadata.{name}")
                del meta[name]
        walk(kind.schema, _body_without(obj, "apiVersion", "kind", "metadata"), "", findings, prune=False)
        if findings.unknown and opts.field_validation == "Strict":
            raise errors.StrictDecodingError(kind.kind, kind.version, findings.unknown)
        if findings.unknown and opts.field_validation == "Warn":
            opts.warnings.extend(f'unknown field "{p}"' for p in findings.unknown)
        pruned = Findings()
        body = _body_without(obj, "apiVersion", "kind", "metadata")
        walk(kind.schema, body, "", pruned, prune=True)
        for key in [k for k in obj if k not in ("apiVersion", "kind", "metadata")]:
            if key in body:
                obj[key] = body[key]
            else:
                del obj[key]
        if findings.wrong_type:
            raise errors.invalid(kind.kind, kind.group, obj["metadata"].get("name", ""),
                                 _type_causes(findings.wrong_type))

    def _admit(self, kind: Kind, obj: dict, old: dict | None, opts: Options, operation: str) -> None:
        try:
            self._run_admission(kind, obj, old, opts, operation)
        except Forbidden as refused:
            raise errors.forbidden(refused.plural, refused.name, refused.why, kind.group) from refused

    def _run_admission(self, kind: Kind, obj: dict, old: dict | None, opts: Options, operation: str) -> None:
        ctx = self._context(operation, opts)
        if kind.default:
            kind.default(obj, old, ctx)
        # ObjectMeta rules come first, as the API server checks them before any validating webhook.
        causes = objectmeta.content_causes(obj["metadata"])
        if causes:
            raise errors.invalid(kind.kind, kind.group, obj["metadata"].get("name", ""), causes)
        if kind.validate:
            problem = kind.validate(obj, old, ctx)
            if problem:
                raise _invalid_from(kind, obj, problem)
        opts.warnings.extend(ack.warnings(kind.api_version, kind.kind, obj))

    def _stored(self, kind: Kind, obj: dict, opts: Options) -> tuple[Kind, dict]:
        """A request's object in its stored version: a served version's object is checked against its
        own schema first (so errors name its fields), then converted up."""
        if kind.conversion is None:
            return kind, obj
        self._schema_check(kind, obj, opts)
        opts.warnings.extend(ack.version_warnings(kind.api_version, kind.kind))
        return self.kinds.storage_of(kind), kind.conversion.up(obj)

    @staticmethod
    def _shown(kind: Kind, obj: dict) -> dict:
        """A stored object as the requested version shows it."""
        return obj if kind.conversion is None else kind.conversion.down(obj)

    def _check_name(self, kind: Kind, name: str) -> None:
        causes = objectmeta.name_causes(kind.kind, name)
        if causes:
            raise errors.invalid(kind.kind, kind.group, name, causes)

    def _generate_name(self, kind: Kind, meta: dict) -> str:
        prefix = meta["generateName"]
        causes = objectmeta.generate_name_causes(kind.kind, prefix)
        if causes:
            raise errors.invalid(kind.kind, kind.group, "", causes)
        random = "".join(secrets.choice(_GENERATE_CHARS) for _ in range(5))
        return prefix[:objectmeta.MAX_GENERATE_NAME] + random

    def _decode(self, kind: Kind, body: object, namespace: str) -> dict:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON or YAML object")
        try:
            # Before anything recurses into it; client bodies were checked for JSON values when decoded.
            check_shape(body, json_values=False)
        except DecodeError as err:
            raise errors.bad_request(f"the object could not be decoded: {err}") from err
        obj = copy.deepcopy(body)
        api_version = obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        if api_version != kind.api_version or obj["kind"] != kind.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({kind.api_version})" if api_version != kind.api_version else
                f"the kind in the data ({obj['kind']}) does not match the expected kind ({kind.kind})"
            )
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        wrong = objectmeta.wrong_types(meta)
        if wrong:
            name = meta["name"] if isinstance(meta.get("name"), str) else ""
            raise errors.invalid(kind.kind, kind.group, name, _type_causes(wrong))
        if kind.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return obj

    def _write(self, kind: Kind, obj: dict, opts: Options, *, created: bool) -> dict:
        obj["metadata"]["resourceVersion"] = (
            obj["metadata"].get("resourceVersion", "0") if opts.dry_run else self.store.next_version()
        )
        if opts.dry_run:
            return obj
        return self.store.put(kind.resource, obj, created=created)

    def _current(self, kind: Kind, namespace: str, name: str) -> dict:
        obj = self.store.get(kind.resource, namespace if kind.namespaced else "", name)
        if obj is None:
            raise errors.not_found(kind.plural, kind.group, name)
        return obj

    # Reads ---------------------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> dict:
        return self._shown(kind, self._current(kind, namespace, name))

    def get_text(self, kind: Kind, namespace: str, name: str) -> str:
        entry = self.store.entry(kind.resource, namespace if kind.namespaced else "", name)
        if entry is None:
            raise errors.not_found(kind.plural, kind.group, name)
        return view_text(kind.conversion, entry.text)

    def list(self, kind: Kind, namespace: str | None, predicate: Predicate | None = None
             ) -> tuple[list[str], int]:
        """The JSON texts of matching objects and the collection's resourceVersion."""
        entries = self.store.entries(kind.resource, namespace if kind.namespaced else None)
        texts = [view_text(kind.conversion, e.text) for e in entries if predicate is None or predicate(e.obj)]
        return texts, self.store.resource_version

    # Writes --------------------------------------------------------------------------------------

    def create(self, kind: Kind, namespace: str, body: object, opts: Options | None = None) -> dict:
        opts = opts or Options()
        view = kind
        kind, obj = self._stored(kind, self._decode(kind, body, namespace), opts)
        meta = obj["metadata"]
        self._schema_check(kind, obj, opts)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(kind.kind, kind.group, "", [Cause(
                    "metadata.name", "Required value: name or generateName is required", "FieldValueRequired"
                )])
            meta["name"] = self._generate_name(kind, meta)
        self._check_name(kind, meta["name"])
        if kind.namespaced:
            self._check_namespace(kind, namespace)
        if self.store.entry(kind.resource, meta.get("namespace", ""), meta["name"]) is not None:
            raise errors.already_exists(kind.plural, kind.group, meta["name"])
        for key in _SERVER_META:
            meta.pop(key, None)
        meta.pop("resourceVersion", None)
        meta.pop("selfLink", None)
        if kind.status_subresource:
            obj.pop("status", None)  # status starts empty (core defaulters set the initial phase)
        self._admit(kind, obj, None, opts, "CREATE")
        meta = obj["metadata"]  # as admission left it (a mutation may have replaced it)
        meta.setdefault("uid", str(uuid.uuid4()))  # a Job's defaulter assigns it first (its selector)
        meta["creationTimestamp"] = self._clock()
        if kind.generation:
            meta["generation"] = 1
        return self._shown(view, self._write(kind, obj, opts, created=True))

    def update(self, kind: Kind, namespace: str, name: str, body: object, opts: Options | None = None,
               *, subresource: str = "") -> dict:
        opts = opts or Options()
        obj = self._decode(kind, body, namespace)
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        old = self._current(kind, namespace, name)
        sent_version = meta.get("resourceVersion")
        if not sent_version and not kind.builtin:
            raise errors.invalid(kind.kind, kind.group, name, [Cause(
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            )])
        if sent_version and sent_version != old["metadata"]["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, name, errors.STALE)
        stored, obj = self._stored(kind, obj, opts)
        return self._shown(kind, self._replace(stored, old, obj, opts, subresource))

    def _replace(self, kind: Kind, old: dict, obj: dict, opts: Options, subresource: str) -> dict:
        """Writes `obj` over `old` following the main-resource or status-subresource rules."""
        if subresource == "status":
            if not kind.status_subresource:
                raise errors.not_found(kind.plural, kind.group, old["metadata"]["name"])
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            self._schema_check(kind, new, Options(field_validation="Ignore"))
        else:
            self._schema_check(kind, obj, opts)
            new = obj
            for key in _SERVER_META:
                if key in old["metadata"]:
                    new["metadata"][key] = old["metadata"][key]
                else:
                    new["metadata"].pop(key, None)
            new["metadata"]["namespace"] = old["metadata"].get("namespace")
            if not kind.namespaced:
                new["metadata"].pop("namespace", None)
            if kind.status_subresource:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            if old["metadata"].get("deletionTimestamp") and set(new["metadata"].get("finalizers") or []) - set(
                    old["metadata"].get("finalizers") or []):
                raise errors.invalid(kind.kind, kind.group, old["metadata"]["name"], [Cause(
                    "metadata.finalizers", "Forbidden: no new finalizers can be added if the object is "
                                           "being deleted", "FieldValueForbidden")])
            self._admit(kind, new, old, opts, "UPDATE")
            if kind.generation and _spec_of(new) != _spec_of(old):
                new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _same(new, old):
            return old
        if (old["metadata"].get("deletionTimestamp") and old["metadata"].get("finalizers")
                and not new["metadata"].get("finalizers")):  # the last finalizer is gone: delete now
            if opts.dry_run:
                return new
            return self._remove(kind, new)
        return self._write(kind, new, opts, created=False)

    def patch(self, kind: Kind, namespace: str, name: str, content_type: str, body: bytes,
              opts: Options | None = None, *, subresource: str = "") -> dict:
        """A patch applies to the object as the requested version shows it."""
        opts = opts or Options()
        key_ns = namespace if kind.namespaced else ""
        current = self.store.get(kind.resource, key_ns, name)
        shown = None if current is None else self._shown(kind, current)
        doc = _parse_patch(content_type, body)
        if content_type in (patch.APPLY_PATCH, patch.APPLY_PATCH_CBOR):
            applied = patch.apply(shown, doc, opts.field_manager, kind.api_version)
            # The name is the URL's, even where an earlier apply owned metadata.name and this one omits it.
            applied.setdefault("metadata", {})["name"] = name
            if current is None:
                return self.create(kind, namespace, applied, opts)
            stored, obj = self._stored(kind, self._decode(kind, applied, namespace), opts)
            return self._shown(kind, self._replace(stored, current, obj, opts, subresource))
        if current is None or shown is None:
            raise errors.not_found(kind.plural, kind.group, name)
        merged: object
        if content_type == patch.MERGE_PATCH:
            merged = patch.merge_patch(shown, doc)
        elif content_type == patch.JSON_PATCH:
            merged = patch.json_patch(shown, doc)
        elif content_type == patch.STRATEGIC_MERGE_PATCH:
            if not kind.builtin:
                raise errors.unsupported_media_type(content_type)
            merged = patch.strategic_merge_patch(shown, doc)
        else:
            raise errors.unsupported_media_type(content_type)
        if not isinstance(merged, dict) or not isinstance(merged.setdefault("metadata", {}), dict):
            raise errors.bad_request("the patch must produce an object, and so must its metadata")
        if merged["metadata"].setdefault("name", name) != name:
            raise errors.bad_request(f"the name of the object ({merged['metadata']['name']}) does not match the "
                                     f"name on the URL ({name})")
        decoded = self._decode(kind, merged, namespace)
        sent_version = decoded["metadata"].get("resourceVersion")
        if sent_version and sent_version != current["metadata"]["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, name, errors.STALE)
        try:
            stored, obj = self._stored(kind, decoded, opts)
            return self._shown(kind, self._replace(stored, current, obj, opts, subresource))
        except errors.StrictDecodingError as err:
            # As Kubernetes reports it for PATCH: 422 with the patched object under the field "patch".
            shown_text = json.dumps(json.dumps(merged, separators=(",", ":")))
            raise errors.invalid("", "", "", [Cause("patch", f"Invalid value: {shown_text}: {err.decoding}")]) from err

    def _rewrite(self, kind: Kind, obj: dict) -> dict:
        obj["metadata"]["resourceVersion"] = self.store.next_version()
        return self.store.put(kind.resource, obj, created=False)

    # Deletes -------------------------------------------------------------------------------------

    def delete(self, kind: Kind, namespace: str, name: str, options: dict | None = None,
               opts: Options | None = None) -> dict:
        return self._shown(kind, self._delete(self.kinds.storage_of(kind), namespace, name, options, opts))

    def _delete(self, kind: Kind, namespace: str, name: str, options: dict | None = None,
                opts: Options | None = None) -> dict:
        opts = opts or Options()
        options = options or {}
        obj = self._current(kind, namespace, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
            raise errors.conflict(kind.plural, kind.group, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, UID in object "
                                  f"meta: {obj['metadata']['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, name,
                                  f"Precondition failed: ResourceVersion in precondition: "
                                  f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                  f"{obj['metadata']['resourceVersion']}")
        if opts.dry_run:
            return obj
        propagation = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents")
                                                           else "Background")
        if kind.kind == "Namespace":
            self._empty_namespace(name)
        grace = _grace_period(kind, obj, options)
        if grace:
            # Graceful deletion (a bound Pod): the kubelet stops it, then deletes it with a grace of 0.
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = self._clock()
                obj["metadata"]["deletionGracePeriodSeconds"] = grace
                obj = self._rewrite(kind, obj)
            return obj
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = self._clock()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                obj = self._rewrite(kind, obj)
            return obj
        return self._remove(kind, obj, propagation)

    def _remove(self, kind: Kind, obj: dict, propagation: str = "Background") -> dict:
        meta = obj["metadata"]
        if propagation == "Foreground":  # dependents go first, then the owner
            self._collect_dependents(meta["uid"], propagation)
        removed = self.store.remove(kind.resource, meta.get("namespace", ""), meta["name"])
        if propagation != "Foreground":
            self._collect_dependents(meta["uid"], propagation)
        return removed or obj

    def _collect_dependents(self, uid: str, propagation: str) -> None:
        """The garbage collector, run at once: dependents of a deleted owner go too (or are orphaned)."""
        dependents = list(self.store.find(lambda _r, o: any(
            ref.get("uid") == uid for ref in o.get("metadata", {}).get("ownerReferences") or [])))
        for resource, dep in dependents:
            kind = next(k for k in self.kinds.stored if k.resource == resource)
            meta = dep["metadata"]
            current = self.store.get(resource, meta.get("namespace", ""), meta["name"])
            if current is None:
                continue
            refs = [r for r in current["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if propagation == "Orphan" or refs:
                current["metadata"]["ownerReferences"] = refs
                if not refs:
                    del current["metadata"]["ownerReferences"]
                self._rewrite(kind, current)
            else:
                self.delete(kind, meta.get("namespace", ""), meta["name"],
                            {"propagationPolicy": propagation})

    def _empty_namespace(self, namespace: str) -> None:
        for kind in self.kinds.stored:
            if not kind.namespaced:
                continue
            for entry in self.store.entries(kind.resource, namespace):
                meta = entry.obj["metadata"]
                if self.store.entry(kind.resource, namespace, meta["name"]) is not None:
                    self.delete(kind, namespace, meta["name"], {"propagationPolicy": "Background"})

    def delete_collection(self, kind: Kind, namespace: str | None, predicate: Predicate | None,
                          options: dict | None = None, opts: Options | None = None) -> builtins.list[dict]:
        texts, _ = self.list(kind, namespace, predicate)
        deleted = []
        for text in texts:
            meta = json.loads(text)["metadata"]
            try:
                deleted.append(self.delete(kind, meta.get("namespace", ""), meta["name"], options, opts))
            except ApiError as err:
                if err.code != 404:
                    raise
        return deleted


def _wrong_option(field: str, value: object, want: str) -> ApiError:
    return errors.bad_request(f"invalid DeleteOptions: {field} must be {want}, not {describe_value(value)}")


def check_delete_options(options: dict) -> None:
    """DeleteOptions fields of the right types and values (400 otherwise), before anything is deleted."""
    grace = options.get("gracePeriodSeconds")
    if grace is not None and type(grace) is not int:
        raise _wrong_option("gracePeriodSeconds", grace, "an integer")
    pre = options.get("preconditions")
    if pre is not None and not isinstance(pre, dict):
        raise _wrong_option("preconditions", pre, "an object")
    for key in ("uid", "resourceVersion"):
        value = (pre or {}).get(key)
        if value is not None and not isinstance(value, str):
            raise _wrong_option(f"preconditions.{key}", value, "a string")
    orphan = options.get("orphanDependents")
    if orphan is not None and not isinstance(orphan, bool):
        raise _wrong_option("orphanDependents", orphan, "a boolean")
    policy = options.get("propagationPolicy")
    if policy is not None and policy not in PROPAGATION_POLICIES:
        raise errors.bad_request(f"propagationPolicy: Unsupported value: {describe_value(policy)}: supported values: "
                                 + ", ".join(f'"{p}"' for p in PROPAGATION_POLICIES))
    if orphan is not None and policy is not None:
        raise errors.bad_request("orphanDependents and deletionPropagation cannot be both set")
    dry_run = options.get("dryRun")
    if dry_run is not None and not (isinstance(dry_run, list) and all(v == "All" for v in dry_run)):
        raise errors.bad_request(f'Invalid dryRun value {describe_value(dry_run)}: supported values: "All"')


def _grace_period(kind: Kind, obj: dict, options: dict) -> int:
    """Seconds of graceful deletion: only Pods bound to a node have any (0 deletes at once)."""
    if not kind.graceful or not (obj.get("spec") or {}).get("nodeName"):
        return 0
    asked = options.get("gracePeriodSeconds")
    if asked is not None and asked != "":
        return max(0, int(asked))
    return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0)


def _type_causes(wrong_type: list[tuple[str, object, str]]) -> list[Cause]:
    causes = []
    for path, value, want in wrong_type:
        shown = describe_value(value)
        message = (f"Unsupported value: {shown}" if want == "enum"
                   else f"Invalid value: {shown}: {path} in body must be of type {want}: {shown}")
        causes.append(Cause(path, message, "FieldValueNotSupported" if want == "enum" else "FieldValueTypeInvalid"))
    return causes


def _spec_of(obj: dict) -> dict:
    return _body_without(obj, "metadata", "status", "apiVersion", "kind")


def _same(a: dict, b: dict) -> bool:
    def strip(o: dict) -> dict:
        out = dict(o)
        out["metadata"] = _body_without(o["metadata"], "resourceVersion", "managedFields")
        return out
    return strip(a) == strip(b)


def _parse_patch(content_type: str, body: bytes) -> object:
    if content_type in (patch.APPLY_PATCH,):
        try:
            return decode_yaml(body) or {}
        except DecodeError as err:
            raise errors.bad_request(f"error decoding YAML: {err}") from err
    try:
        return decode_json(body or b"null")
    except DecodeError as err:
        raise errors.bad_request(f"error decoding patch: {err}") from err


# the validating webhook that refuses a Knative kind on a cluster, as its message names it
WEBHOOKS = {"serving.knative.dev": "validation.webhook.serving.knative.dev",
            "autoscaling.internal.knative.dev": "validation.webhook.serving.knative.dev",
            "eventing.knative.dev": "validation.webhook.eventing.knative.dev",
            "messaging.knative.dev": "validation.webhook.eventing.knative.dev",
            "sources.knative.dev": "validation.webhook.eventing.knative.dev",
            "flows.knative.dev": "validation.webhook.eventing.knative.dev",
            "sinks.knative.dev": "validation.webhook.eventing.knative.dev"}
KAFKA_KINDS = ("KafkaSource", "KafkaSink", "KafkaChannel")
KAFKA_WEBHOOK = "validation.webhook.kafka.eventing.knative.dev"


def _invalid_from(kind: Kind, obj: dict, problem: FieldError) -> ApiError:
    """422 naming the fields; for a Knative kind the message is its webhook's, as a cluster words it."""
    causes: list[Cause] = []
    for e in problem.merged():
        detail = f"{e.message}\n{e.details}" if e.details else e.message
        causes.extend(Cause(path, detail) for path in (e.paths or [""]))
    webhook = KAFKA_WEBHOOK if kind.kind in KAFKA_KINDS else WEBHOOKS.get(kind.group)
    error = errors.invalid(kind.kind, kind.group, obj["metadata"].get("name", ""), causes,
                           summary=f"validation failed: {problem}")
    if webhook is None:
        return error
    return ApiError(error.code, error.reason,
                    f'admission webhook "{webhook}" denied the request: validation failed: {problem}', error.details)
