"""`kproof lint --fix`: rewrites the deprecated forms that have one mechanical replacement, in place.

- serving.knative.dev v1alpha1/v1beta1 -> v1, with v1alpha1's forms converted as Knative's own
  conversion did (pkg/apis/serving/v1alpha1/*_conversion.go): runLatest, pinned and release become
  spec.template (+ spec.traffic), revisionTemplate becomes template, `container` becomes
  `containers: [...]`, a traffic target's `name` becomes `tag`. manual mode has no v1 form: left.
- the v1alpha1 KafkaSource -> sources.knative.dev/v1beta1, comma-separated bootstrapServers and
  topics split into lists (as the reference's conversion does).
- camelCase autoscaling annotations -> kebab-case; a camelCase twin of a kebab-case annotation with
  the same value is dropped (twins that disagree are left: which one is meant is not mechanical).
- annotation and label values that YAML reads as numbers or booleans are quoted.

Files are edited with ruamel.yaml's round-trip loader: comments, quoting, key order and the other
documents of a file stay as they were.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from kproof.lint.forms import ALIASES, KAFKA_SOURCE_V1BETA1, SERVING_V1, key_like, metadata_paths, same_value
from reference.apiserver.conversion import KAFKA_SOURCE_LISTS, split_list

OLD_SERVING = ("serving.knative.dev/v1alpha1", "serving.knative.dev/v1beta1")
OLD_KAFKA_SOURCE = ("sources.knative.dev/v1alpha1", "sources.eventing.knative.dev/v1alpha1")
MODES = ("runLatest", "pinned", "release", "manual")


@dataclass(frozen=True)
class Change:
    file: Path
    line: int
    rule: str
    text: str
    done: bool = True  # False: found, but left for a person to decide


class _Edits:
    """The changes made to one document, with the line each was made at."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.changes: list[Change] = []

    def made(self, node: CommentedMap, key: str, rule: str, text: str) -> None:
        self.changes.append(Change(self.file, _line(node, key), rule, text))

    def left(self, node: CommentedMap, key: str, rule: str, text: str) -> None:
        self.changes.append(Change(self.file, _line(node, key), rule, text, done=False))


def _line(node: CommentedMap, key: str) -> int:
    try:
        return node.lc.key(key)[0] + 1
    except (KeyError, TypeError, AttributeError):
        return (node.lc.line or 0) + 1 if getattr(node, "lc", None) else 1


def _rename(mapping: CommentedMap, old: str, new: str, value: object = None) -> None:
    """`old` becomes `new` at the same place, keeping its comment; `value` replaces the value if given."""
    position = list(mapping.keys()).index(old)
    kept = mapping[old] if value is None else value
    comment = mapping.ca.items.pop(old, None)
    del mapping[old]
    mapping.insert(position, new, kept)
    if comment:
        mapping.ca.items[new] = comment


def _get(mapping: object, name: str) -> object:
    if not isinstance(mapping, dict):
        return None
    key = key_like(mapping, name)
    return mapping[key] if key else None


# serving ------------------------------------------------------------------------------------------

def _fix_revision_spec(spec: object, edits: _Edits) -> bool:
    """`container` -> `containers: [container]`; False when both are there."""
    if not isinstance(spec, CommentedMap):
        return True
    key = key_like(spec, "container")
    if not key:
        return True
    if spec.get("containers"):
        edits.left(spec, key, "KP012", "both `container` and `containers`: keep one")
        return False
    edits.made(spec, key, "KP012", "`container` -> `containers` (one item)")
    _rename(spec, key, "containers", CommentedSeq([spec[key]]))
    return True


def _template_of(configuration: object) -> CommentedMap | None:
    template = _get(configuration, "revisionTemplate") or _get(configuration, "template")
    return template if isinstance(template, CommentedMap) else None


def _traffic_target(**fields: object) -> CommentedMap:
    target = CommentedMap()
    for key, value in fields.items():
        if value is not None:
            target[key] = value
    return target


def _release_traffic(release: CommentedMap) -> CommentedSeq:
    """As Knative's v1alpha1 conversion: current (and candidate, with rolloutPercent) plus a latest tag."""
    listed = _get(release, "revisions")  # the caller made sure it names some
    revisions = [str(r) for r in listed] if isinstance(listed, Iterable) else [str(listed)]
    percent = _get(release, "rolloutPercent") or 0
    rollout = int(percent) if isinstance(percent, str | int | float) else 0
    targets = [_traffic_target(revisionName=revisions[0], percent=100 - rollout if len(revisions) == 2 else 100,
                               tag="current")]
    if len(revisions) == 2:
        targets.append(_traffic_target(revisionName=revisions[1], percent=rollout, tag="candidate"))
    targets.append(_traffic_target(tag="latest", latestRevision=True))
    for target in targets:
        if target.get("revisionName") == "@latest":
            del target["revisionName"]
            target.insert(0, "latestRevision", True)
    return CommentedSeq(targets)


def _fix_service_mode(spec: CommentedMap, key: str, edits: _Edits) -> bool:
    mode = next(m for m in MODES if m.lower() == key.lower())
    body = spec[key]
    template = _template_of(_get(body, "configuration"))
    if mode == "manual":
        edits.left(spec, key, "KP012", "spec.manual has no v1 form: write spec.template and spec.traffic")
        return False
    if template is None or "template" in spec or "traffic" in spec:
        edits.left(spec, key, "KP012", f"spec.{key} could not be converted (no revisionTemplate, or spec.template "
                                       "or spec.traffic already there)")
        return False
    if mode == "release" and not _get(body, "revisions"):
        edits.left(spec, key, "KP012", "spec.release names no revisions")
        return False
    traffic = None
    if mode == "pinned":
        traffic = CommentedSeq([_traffic_target(revisionName=str(_get(body, "revisionName")), percent=100)])
    elif mode == "release":
        traffic = _release_traffic(body)
    # runLatest: v1's default traffic is exactly its own (100% to the latest ready revision)
    edits.made(spec, key, "KP012", f"spec.{key}.configuration.revisionTemplate -> spec.template"
                                   + (" and spec.traffic" if traffic is not None else ""))
    _rename(spec, key, "template", template)
    if traffic is not None:
        spec.insert(list(spec.keys()).index("template") + 1, "traffic", traffic)
    return _fix_revision_spec(template.get("spec"), edits)


def _fix_traffic_names(spec: CommentedMap, edits: _Edits) -> bool:
    ok = True
    for target in spec.get("traffic") or []:
        if isinstance(target, CommentedMap) and "name" in target:
            if "tag" in target:
                edits.left(target, "name", "KP012", "traffic target with both `name` and `tag`: keep one")
                ok = False
                continue
            edits.made(target, "name", "KP012", "traffic `name` -> `tag`")
            _rename(target, "name", "tag")
    return ok


def fix_serving(doc: CommentedMap, edits: _Edits) -> None:
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api, str) or not api.startswith("serving.knative.dev/"):
        return
    spec = doc.get("spec")
    ok = True
    if isinstance(spec, CommentedMap):
        if kind == "Service":
            for mode in MODES:
                key = key_like(spec, mode)
                if key:
                    ok = _fix_service_mode(spec, key, edits) and ok
        if kind == "Configuration":
            key = key_like(spec, "revisionTemplate")
            if key and "template" in spec:
                edits.left(spec, key, "KP012", "both spec.revisionTemplate and spec.template: keep one")
                ok = False
            elif key:
                edits.made(spec, key, "KP012", f"spec.{key} -> spec.template")
                _rename(spec, key, "template")
        if kind in ("Service", "Configuration"):
            ok = _fix_revision_spec(_get(spec.get("template"), "spec"), edits) and ok
        if kind == "Revision":
            ok = _fix_revision_spec(spec, edits) and ok
        if kind in ("Service", "Route"):
            ok = _fix_traffic_names(spec, edits) and ok
    if api in OLD_SERVING and ok:
        edits.made(doc, "apiVersion", "KP011", f"apiVersion {api} -> {SERVING_V1}")
        doc["apiVersion"] = SERVING_V1


# KafkaSource --------------------------------------------------------------------------------------

def fix_kafka_source(doc: CommentedMap, edits: _Edits) -> None:
    api = doc.get("apiVersion")
    if api not in OLD_KAFKA_SOURCE or doc.get("kind") != "KafkaSource":
        return
    rule = "KP013" if api == OLD_KAFKA_SOURCE[0] else "KP011"
    edits.made(doc, "apiVersion", rule, f"apiVersion {api} -> {KAFKA_SOURCE_V1BETA1}")
    doc["apiVersion"] = KAFKA_SOURCE_V1BETA1
    spec = doc.get("spec")
    if not isinstance(spec, CommentedMap):
        return
    for key in KAFKA_SOURCE_LISTS:
        value = spec.get(key)
        if isinstance(value, str):
            items = split_list(value)
            edits.made(spec, key, rule, f"spec.{key} {value!r} -> a list of {len(items)}")
            spec[key] = CommentedSeq(items)


# annotations and labels ---------------------------------------------------------------------------

def fix_annotations(doc: CommentedMap, edits: _Edits) -> None:
    for _, metadata in metadata_paths(doc):
        for section in ("annotations", "labels"):
            values = metadata.get(section)
            if not isinstance(values, CommentedMap):
                continue
            for key, value in list(values.items()):
                if value is not None and not isinstance(value, str):
                    text = str(value).lower() if isinstance(value, bool) else str(value)
                    edits.made(values, key, "KP016", f"{key}: {text} -> \"{text}\"")
                    values[key] = DoubleQuotedScalarString(text)
        annotations = metadata.get("annotations")
        if not isinstance(annotations, CommentedMap):
            continue
        for kebab, camel in ALIASES:
            if camel not in annotations:
                continue
            if kebab not in annotations:
                edits.made(annotations, camel, "KP015", f"{camel} -> {kebab}")
                _rename(annotations, camel, kebab)
            elif same_value(annotations[camel], annotations[kebab]):
                edits.made(annotations, camel, "KP014", f"dropped {camel} (same value as {kebab})")
                del annotations[camel]
            else:
                edits.left(annotations, camel, "KP014", f"{camel} and {kebab} disagree: keep the one you mean")


FIXERS = (fix_serving, fix_kafka_source, fix_annotations)


# files --------------------------------------------------------------------------------------------

def _yaml_for(text: str) -> YAML:
    """A round-trip YAML that writes lists the way `text` does (`- ` under or beside the parent key)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long strings (request-log templates, CESQL)
    lines = text.splitlines()
    beside = under = 0
    for parent, child in itertools.pairwise(lines):
        key = re.match(r"^( *)[^\s#-][^#]*:\s*(#.*)?$", parent)
        item = re.match(r"^( *)- ", child)
        if key and item:
            if len(item.group(1)) == len(key.group(1)):
                beside += 1
            elif len(item.group(1)) > len(key.group(1)):
                under += 1
    yaml.indent(mapping=2, sequence=2 if beside > under else 4, offset=0 if beside > under else 2)
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    yaml.explicit_start = first.startswith("---")
    return yaml


def fix_file(file: Path) -> list[Change]:
    """Rewrites `file` in place where something changed; what was changed and what was left."""
    try:
        text = file.read_text(encoding="utf-8")
        yaml = _yaml_for(text)
        documents = [d for d in yaml.load_all(text) if d is not None]
    except (OSError, UnicodeDecodeError, YAMLError):
        return []  # the lint reports it
    edits = _Edits(file)
    for doc in documents:
        if isinstance(doc, CommentedMap):
            for fixer in FIXERS:
                fixer(doc, edits)
    if any(c.done for c in edits.changes):
        out = io.StringIO()
        yaml.dump_all(documents, out)
        if out.getvalue() != text:
            file.write_text(out.getvalue(), encoding="utf-8")
    return sorted(edits.changes, key=lambda c: c.line)
