"""Knative's and Kubernetes' validation, run the way the reference's API server runs it on a create.

Objects of kinds the reference serves are checked against their schema (wrong types, unknown fields:
kubectl asks for strict field validation), defaulted, and validated by the admission hooks of
reference/apiserver/admission with Knative's default config maps. Flags of `config-features` are a
cluster's choice, not the manifest's: admission runs with every feature flag enabled (KP019 for what
is still refused), and again with Knative's defaults to name the flags a manifest needs (KP020).
Kinds the reference does not serve are not checked here.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from functools import cache

from kproof.lint.forms import ALIASES, metadata_paths, v1alpha1_forms
from kproof.lint.manifests import parse_path
from kproof.lint.rules import Finding, Options, finding
from reference.apiserver import objectmeta
from reference.apiserver.admission.context import Context
from reference.apiserver.bootstrap import CONFIG_MAPS
from reference.apiserver.kinds import Kind, Kinds
from reference.apiserver.schemas.schema import Findings, describe_value, walk

# The flags a cluster may turn on that let manifests use more of the pod spec (and eventing's options).
FEATURE_FLAGS = {
    "knative-serving": ("multi-container", "multi-container-probing", "kubernetes.podspec-affinity",
                        "kubernetes.podspec-fieldref", "kubernetes.podspec-nodeselector",
                        "kubernetes.podspec-tolerations", "kubernetes.podspec-securitycontext",
                        "kubernetes.podspec-init-containers", "kubernetes.podspec-persistent-volume-claim",
                        "kubernetes.podspec-persistent-volume-write", "kubernetes.podspec-volumes-emptydir"),
    "knative-eventing": ("kreference-group", "delivery-retryafter", "delivery-timeout", "new-trigger-filters",
                         "cross-namespace-event-links"),
}


@cache
def _kinds() -> Kinds:
    return Kinds()


def _context(enabled: frozenset[tuple[str, str]]) -> Context:
    configs = {key: dict(data) for key, data in CONFIG_MAPS.items()}
    for namespace, flag in enabled:
        configs.setdefault((namespace, "config-features"), {})[flag] = "enabled"

    def read(namespace: str, name: str) -> dict[str, str]:
        return configs.get((namespace, name), {})

    return Context("CREATE", "kproof-lint", read)


ALL_FLAGS = frozenset((ns, flag) for ns, flags in FEATURE_FLAGS.items() for flag in flags)


def served_kind(doc: dict) -> Kind | None:
    return next((k for k in _kinds().all if k.api_version == doc["apiVersion"] and k.kind == doc["kind"]), None)


def _prepared(doc: dict) -> dict:
    """A copy as the API server would see it, less what forms.py already reports: annotation and label
    values as text, camelCase twins of kebab-case annotations dropped, the default namespace filled in."""
    obj = copy.deepcopy(doc)
    for _, metadata in metadata_paths(obj):
        for section in ("annotations", "labels"):
            values = metadata.get(section)
            if isinstance(values, dict):
                metadata[section] = {k: v if isinstance(v, str) or v is None else str(v) for k, v in values.items()}
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            for kebab, camel in ALIASES:
                if kebab in annotations:
                    annotations.pop(camel, None)
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    obj["metadata"].setdefault("namespace", "default")
    return obj


def problems(doc: dict, kind: Kind, enabled: frozenset[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(message, field paths) for everything the API server would refuse in `doc`."""
    obj = _prepared(doc)
    found = Findings()
    walk(kind.schema, {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}, "", found,
         prune=False)
    out = [(f"unknown field {path.rsplit('.', 1)[-1]!r}: the API server refuses it under kubectl's default "
            "strict field validation", [path]) for path in found.unknown]
    out += [(f"{describe_value(value)} is not {'allowed' if want == 'enum' else 'of type ' + want}", [path])
            for path, value, want in found.wrong_type]
    if out:
        return out  # as the API server, which stops before admission
    if kind.conversion is not None:
        obj = kind.conversion.up(obj)
        kind = _kinds().storage_of(kind)
    context = _context(enabled)
    try:
        if kind.default:
            kind.default(obj, None, context)
        causes = objectmeta.content_causes(obj["metadata"])
        if causes:
            return [(cause.message, [cause.field]) for cause in causes]
        problem = kind.validate(obj, None, context) if kind.validate else None
    except (AttributeError, KeyError, TypeError, ValueError) as err:  # a shape the hooks do not expect
        return [(f"not a valid {kind.kind}: {err}", [])]
    if problem is None:
        return []
    return [(f"{e.message}{': ' + e.details if e.details else ''}", e.paths) for e in problem.merged()]


def _needed_flags(doc: dict, kind: Kind) -> list[str]:
    """The fewest feature flags (one or two) that, enabled together, let the object through."""
    for size in (1, 2):
        for flags in itertools.combinations(sorted(ALL_FLAGS), size):
            if not problems(doc, kind, frozenset(flags)):
                return [flag for _, flag in flags]
    return []


def check(doc: dict, options: Options) -> Iterator[Finding]:
    kind = served_kind(doc)
    if kind is None:
        return
    refused = problems(doc, kind, ALL_FLAGS)
    told = {f.path for f in v1alpha1_forms(doc, options)}  # KP012 already says these fields are wrong
    for message, paths in refused:
        problem = _at_first(doc, "KP019", message, paths)
        if problem.path not in told:
            yield problem
    if refused:
        return
    by_default = problems(doc, kind, frozenset())
    if not by_default:
        return
    flags = _needed_flags(doc, kind)
    needs = (f"enable {' and '.join(flags)} in config-features" if flags
             else "enable the config-features flags it uses")
    for message, paths in by_default:
        yield _at_first(doc, "KP020", f"{message}: Knative refuses this unless you {needs}", paths)


def _at_first(doc: dict, rule_id: str, message: str, paths: list[str]) -> Finding:
    """One finding per problem, at its first field; the others are named in the message."""
    others = f" (also {', '.join(paths[1:])})" if len(paths) > 1 else ""
    return finding(rule_id, parse_path(doc, paths[0]) if paths else (), message + others)
