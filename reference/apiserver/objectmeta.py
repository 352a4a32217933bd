"""ObjectMeta as the Kubernetes API server checks it for every kind (apimachinery's ValidateObjectMeta):
field types, the name, label keys and values, annotation keys and their total size."""

from __future__ import annotations

import json
import re

from reference.apiserver.errors import Cause
from reference.apiserver.schemas.schema import ANY, BOOL, INT, STR, Findings, arr, mapof, obj, open_obj, walk

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

MAX_ANNOTATIONS_BYTES = 256 * 1024
MAX_GENERATE_NAME = 58  # names.SimpleNameGenerator: the prefix is cut so that 5 random characters fit

_QUALIFIED_MESSAGE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                      "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                      "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                      "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                      "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_LABEL_VALUE_MESSAGE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                        "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                        "'my_value',  or '12345', regex used for validation is "
                        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")

_OWNER_REFERENCE = open_obj(apiVersion=STR, kind=STR, name=STR, uid=STR, controller=BOOL, blockOwnerDeletion=BOOL)
OBJECT_META = obj(
    name=STR, generateName=STR, namespace=STR, uid=STR, resourceVersion=STR, generation=INT, selfLink=STR,
    creationTimestamp=ANY, deletionTimestamp=ANY, deletionGracePeriodSeconds=INT,
    labels=mapof(STR), annotations=mapof(STR), ownerReferences=arr(_OWNER_REFERENCE), finalizers=arr(STR),
    managedFields=arr(open_obj(manager=STR, operation=STR, apiVersion=STR, time=ANY, fieldsType=STR,
                               fieldsV1=open_obj(), subresource=STR)),
)


def _shown(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def wrong_types(meta: dict) -> list[tuple[str, object, str]]:
    """(path, value, wanted type) for each metadata field of the wrong JSON type. A null label or
    annotation value reads as "", as Kubernetes decodes it."""
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if isinstance(values, dict):
            for key in [k for k, v in values.items() if v is None]:
                values[key] = ""
    findings = Findings()
    walk(OBJECT_META, meta, "metadata", findings, prune=False)
    return findings.wrong_type


def name_causes(kind: str, name: str, field: str = "metadata.name") -> list[Cause]:
    """A Namespace's name is a DNS-1123 label, a core Event's any path segment (kube-apiserver keeps v1 Events'
    legacy names, e.g. client-go's `<pod>.Received.1`), every other kind's a DNS-1123 subdomain."""
    if kind == "Event":
        bad = name in (".", "..") or "/" in name or "%" in name
        return [Cause(field, f"Invalid value: {_shown(name)}: may not be '.', '..' or contain '/' or '%'")] if bad \
            else []
    label = kind == "Namespace"
    pattern, limit = (_DNS1123_LABEL, 63) if label else (_DNS1123_SUBDOMAIN, 253)
    if len(name) <= limit and pattern.fullmatch(name):
        return []
    what = "label" if label else "subdomain"
    return [Cause(field, f"Invalid value: {_shown(name)}: a lowercase RFC 1123 {what} must consist of lower case "
                         f"alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                         f"character")]


def generate_name_causes(kind: str, prefix: str) -> list[Cause]:
    """generateName must be a name once random characters follow it (a trailing '-' is fine)."""
    masked = prefix[:-1] + "a" if prefix.endswith("-") else prefix
    return [Cause("metadata.generateName", c.message) for c in name_causes(kind, masked)] if masked else []


def qualified_name_problems(key: str) -> list[str]:
    """validation.IsQualifiedName: an optional DNS subdomain prefix and '/', then a name of at most 63."""
    parts = key.split("/")
    if len(parts) > 2:
        return [f"a qualified name {_QUALIFIED_MESSAGE} with an optional DNS subdomain prefix and '/' "
                f"(e.g. 'example.com/MyName')"]
    problems = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            problems.append("prefix part must be no more than 253 characters")
        elif not _DNS1123_SUBDOMAIN.fullmatch(prefix):
            problems.append(f"prefix part {_SUBDOMAIN_MESSAGE}")
    name = parts[-1]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.fullmatch(name):
        problems.append(f"name part {_QUALIFIED_MESSAGE}")
    return problems


def label_causes(labels: dict[str, str]) -> list[Cause]:
    causes = []
    for key, value in labels.items():
        causes += [Cause("metadata.labels", f"Invalid value: {_shown(key)}: {p}") for p in qualified_name_problems(key)]
        if len(value) > 63:
            causes.append(Cause("metadata.labels", f"Invalid value: {_shown(value)}: must be no more than 63 "
                                                   f"characters"))
        if not _LABEL_VALUE.fullmatch(value):
            causes.append(Cause("metadata.labels", f"Invalid value: {_shown(value)}: {_LABEL_VALUE_MESSAGE}"))
    return causes


def annotation_causes(annotations: dict[str, str]) -> list[Cause]:
    """Keys are qualified names in any case; keys and values together at most 256 KiB."""
    causes = [Cause("metadata.annotations", f"Invalid value: {_shown(key)}: {p}")
              for key in annotations for p in qualified_name_problems(key.lower())]
    size = sum(len(k.encode(errors="surrogatepass")) + len(v.encode(errors="surrogatepass"))
               for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        causes.append(Cause("metadata.annotations", f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes",
                            "FieldValueTooLong"))
    return causes


def content_causes(meta: dict) -> list[Cause]:
    """Label and annotation rules (after wrong_types found nothing)."""
    return label_causes(meta.get("labels") or {}) + annotation_causes(meta.get("annotations") or {})
