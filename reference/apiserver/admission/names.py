"""Name rules (Kubernetes' DNS-1035 / DNS-1123 / qualified names) and Knative's metadata checks."""

from __future__ import annotations

import re

from reference.apiserver.admission.fielderror import FieldError, generic, invalid_value

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_PREFIX = re.compile(r"^[a-z]([-a-z0-9]*)?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def dns1035_problems(name: str, prefix: bool = False) -> list[str]:
    """Kubernetes' messages for a name that is not a DNS-1035 label (empty when it is)."""
    problems = []
    if len(name) > 63:
        problems.append("must be no more than 63 characters")
    if not (_DNS1035_PREFIX if prefix else _DNS1035).fullmatch(name):
        problems.append(DNS1035_MESSAGE)
    return problems


def is_dns1123_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS1123_LABEL.fullmatch(name))


def is_dns1123_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.fullmatch(name))


def qualified_name_problems(name: str) -> list[str]:
    prefix, _, short = name.rpartition("/")
    problems = []
    if prefix and not is_dns1123_subdomain(prefix):
        problems.append("prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                        "alphanumeric characters, '-' or '.', and must start and end with an "
                        "alphanumeric character")
    if not short:
        problems.append("name part must be non-empty")
    elif len(short) > 63:
        problems.append("name part must be no more than 63 characters")
    if short and not _QUALIFIED.fullmatch(short):
        problems.append("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                        "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                        "'123-abc', regex used for validation is "
                        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
    return problems


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


def validate_object_metadata(meta: dict) -> FieldError | None:
    """knative.dev/pkg/apis.ValidateObjectMetadata: names must be DNS-1035 labels. Paths relative to
    metadata."""
    generate = meta.get("generateName") or ""
    name = meta.get("name") or ""
    if generate and (problems := dns1035_problems(generate, prefix=True)):
        return generic(f"not a DNS 1035 label prefix: {_go_list(problems)}", "generateName")
    if name and (problems := dns1035_problems(name)):
        return generic(f"not a DNS 1035 label: {_go_list(problems)}", "name")
    if not name and not generate:
        return generic("name or generateName is required", "name")
    return None


def validate_metadata_of(obj: dict) -> FieldError | None:
    """validate_object_metadata with paths from the object's root (`metadata.name`)."""
    problem = validate_object_metadata(obj["metadata"])
    return problem.via("metadata") if problem else None


def dns1035_value_error(value: str, path: str, prefix: bool = False) -> FieldError | None:
    """`invalid value: not a DNS 1035 label: [...]` as Knative reports a bad tag or revision name."""
    problems = dns1035_problems(value, prefix)
    if not problems:
        return None
    what = "label prefix" if prefix else "label"
    return invalid_value(f"not a DNS 1035 {what}: {_go_list(problems)}", path)


def validate_creator(new: dict, old: dict | None, group: str) -> FieldError | None:
    """The creator annotation never changes after create (knative.dev/pkg ValidateCreatorAndModifier)."""
    if old is None:
        return None
    key = f"{group}/creator"
    before = (old["metadata"].get("annotations") or {}).get(key)
    after = (new["metadata"].get("annotations") or {}).get(key)
    if before != after:
        return FieldError("annotation value is immutable", [f"metadata.annotations.{key}"])
    return None


def set_user_info(obj: dict, old: dict | None, user: str, group: str) -> None:
    """creator and lastModifier annotations, as Knative's defaulting webhook records them."""
    annotations = obj["metadata"].setdefault("annotations", {})
    if old is None:
        annotations[f"{group}/creator"] = user
        annotations[f"{group}/lastModifier"] = user
        return
    old_annotations = old["metadata"].get("annotations") or {}
    if obj.get("spec") != old.get("spec"):
        annotations[f"{group}/lastModifier"] = user
    elif f"{group}/lastModifier" in old_annotations:
        annotations[f"{group}/lastModifier"] = old_annotations[f"{group}/lastModifier"]
