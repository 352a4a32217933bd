"""Knative's shared duck-type rules: KReference, Destination, DeliverySpec, CloudEvent overrides."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from reference.apiserver.admission.context import Context
from reference.apiserver.admission.fielderror import (
    FieldError,
    combine,
    disallowed_fields,
    generic,
    invalid_value,
    missing_field,
    within,
)
from reference.apiserver.admission.numbers import parse_iso_duration

_EXTENSION_KEY = re.compile(r"^[a-zA-Z0-9]+$")


def eventing_features(ctx: Context) -> dict[str, str]:
    return {k: v.strip().lower() for k, v in ctx.eventing_config("config-features").items()}


def validate_reference(ref: dict, parent_namespace: str, allow_other_namespace: bool = False
                       ) -> FieldError | None:
    if not ref:
        return missing_field("apiVersion", "kind", "name")
    errs: list[FieldError | None] = []
    missing = [k for k in ("apiVersion", "kind", "name") if not ref.get(k)]
    if missing:
        errs.append(missing_field(*missing))
    namespace = ref.get("namespace")
    if namespace and namespace != parent_namespace and not allow_other_namespace:
        errs.append(FieldError("mismatched namespaces", ["namespace"],
                               f'parent namespace: "{parent_namespace}" does not match ref: "{namespace}"'))
    return combine(*errs)


def validate_destination(dest: dict | None, parent_namespace: str, other_namespace: bool = False
                         ) -> FieldError | None:
    """Paths relative to the destination field; `other_namespace` lets the ref name another namespace."""
    dest = dest or {}
    ref, uri = dest.get("ref"), dest.get("uri")
    if not ref and not uri:
        return generic("expected at least one, got none", "ref", "uri")
    parsed = urlparse(uri) if uri else None
    absolute = bool(parsed and parsed.scheme and parsed.netloc)
    if ref and uri and absolute:
        return generic("Absolute URI is not allowed when Ref or [apiVersion, kind, name] is present",
                       "[apiVersion, kind, name]", "ref", "uri")
    if not ref and not absolute:
        return invalid_value("Relative URI is not allowed when Ref and [apiVersion, kind, name] is absent",
                             "uri")
    if ref:
        return within(validate_reference(ref, parent_namespace, other_namespace), "ref")
    return None


def default_destination(dest: dict | None, namespace: str) -> None:
    ref = (dest or {}).get("ref")
    if isinstance(ref, dict) and not ref.get("namespace"):
        ref["namespace"] = namespace


def validate_delivery(delivery: dict | None, parent_namespace: str, ctx: Context) -> FieldError | None:
    """Paths relative to the delivery field."""
    if not delivery:
        return None
    flags = eventing_features(ctx)
    errs: list[FieldError | None] = []
    if "deadLetterSink" in delivery:
        errs.append(within(validate_destination(delivery["deadLetterSink"], parent_namespace), "deadLetterSink"))
    retry = delivery.get("retry")
    if retry is not None and retry < 0:
        errs.append(invalid_value(retry, "retry"))
    policy = delivery.get("backoffPolicy")
    if policy is not None and policy not in ("linear", "exponential"):
        errs.append(invalid_value(policy, "backoffPolicy"))
    delivery_format = delivery.get("format")
    if delivery_format is not None and delivery_format not in ("json", "binary"):
        errs.append(invalid_value(delivery_format, "format"))
    for key, flag in (("backoffDelay", None), ("timeout", "delivery-timeout"),
                      ("retryAfterMax", "delivery-retryafter")):
        if key not in delivery:
            continue
        if flag and flags.get(flag, "disabled") != "enabled":
            errs.append(disallowed_fields(key))
            continue
        try:
            seconds = parse_iso_duration(delivery[key])
        except ValueError:
            errs.append(invalid_value(delivery[key], key))
            continue
        if (key == "timeout" and seconds <= 0) or seconds < 0:
            errs.append(invalid_value(delivery[key], key))
    return combine(*errs)


def default_delivery(delivery: dict | None, namespace: str) -> None:
    if delivery:
        default_destination(delivery.get("deadLetterSink"), namespace)


def validate_ce_overrides(overrides: dict | None) -> FieldError | None:
    """Paths relative to the source spec."""
    for key in ((overrides or {}).get("extensions") or {}):
        if not key:
            return FieldError(f'invalid key name "{key}"', ["ceOverrides.extensions"], "keys MUST NOT be empty")
        if not _EXTENSION_KEY.fullmatch(key):
            return FieldError(f'invalid key name "{key}"', ["ceOverrides.extensions"],
                              "keys MUST consist of lower-case letters ('a' to 'z') or digits ('0' to '9') "
                              "from the ASCII character set")
    return None


def validate_source_spec(spec: dict, namespace: str, ctx: Context, sink_required: bool = True
                         ) -> FieldError | None:
    """The SourceSpec every source shares: sink and ceOverrides. Paths relative to the object."""
    errs: list[FieldError | None] = []
    if sink_required or "sink" in spec:
        # A source's sink may be in another namespace: sources validate it outside their own (no parent), so
        # KReference's namespace check does not apply (Knative's authorization example relies on it).
        errs.append(within(validate_destination(spec.get("sink"), namespace, other_namespace=True), "sink"))
    errs.append(validate_ce_overrides(spec.get("ceOverrides")))
    found = combine(*errs)
    return found.via("spec") if found else None
