"""Defaulting and validation of eventing.knative.dev/v1alpha1 EventTransforms and RequestReplies, as Knative
Eventing's webhook does them (pkg/apis/eventing/v1alpha1: eventtransform_*.go, requestreply_*.go).

One addition: an EventTransform's JSONata expressions are parsed here, so a broken one is refused with 422
naming the field (Knative accepts it, and its transformation pod then fails to start).
"""

from __future__ import annotations

from reference.apiserver.admission.context import Context
from reference.apiserver.admission.duck import (
    default_delivery,
    default_destination,
    validate_delivery,
    validate_destination,
    validate_reference,
)
from reference.apiserver.admission.fielderror import (
    FieldError,
    combine,
    disallowed_fields,
    generic,
    invalid_value,
    missing_field,
    missing_one_of,
    multiple_one_of,
    within,
)
from reference.apiserver.admission.names import validate_metadata_of
from reference.apiserver.admission.numbers import parse_iso_duration
from reference.cloudevents.transform import compile_expression

CA_CERTS_MESSAGE = ("CACerts for the sink is not supported for JSONata transformations, to propagate CA trust bundles "
                    "use labeled ConfigMaps: https://knative.dev/docs/eventing/features/transport-encryption/"
                    "#configure-additional-ca-trust-bundles")
IMMUTABLE_SUGGESTION = ("Suggestion: create a new transformation, migrate services to the new one, and delete this "
                        "transformation.")


def _namespace(obj: dict) -> str:
    return obj["metadata"].get("namespace", "")


# EventTransform -----------------------------------------------------------------------------------

def default_event_transform(obj: dict, old: dict | None, ctx: Context) -> None:
    """Knative sets no defaults; the sink's ref takes the namespace as every Destination does."""
    default_destination((obj.setdefault("spec", {})).get("sink"), _namespace(obj))


def _jsonata(jsonata: object) -> FieldError | None:
    """A `jsonata` block: its expression must parse (paths relative to the block)."""
    if not isinstance(jsonata, dict):
        return invalid_value(jsonata, "")
    text = jsonata.get("expression") or ""
    try:
        compile_expression(text)
    except ValueError as err:
        return invalid_value(text.strip() or '""', "expression", str(err))
    return None


def _transformations(block: dict, allow_empty: bool) -> FieldError | None:
    """EventTransformations.Validate: exactly one kind of transformation (only JSONata exists)."""
    if block.get("jsonata") is None:
        return None if allow_empty else missing_one_of("jsonata")
    return within(_jsonata(block["jsonata"]), "jsonata")


def _reply(spec: dict) -> FieldError | None:
    reply = spec.get("reply")
    if reply is None:
        return None
    if spec.get("sink") is None:
        return generic("reply is set without spec.sink", "")
    if reply.get("jsonata") is not None and reply.get("discard"):
        return multiple_one_of("discard", "jsonata")
    return _transformations(reply, allow_empty=True)


def validate_event_transform(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [_transformations(spec, allow_empty=False)]
    sink = spec.get("sink")
    if sink is not None:
        errs.append(within(validate_destination(sink, _namespace(obj)), "sink"))
        if sink.get("CACerts") and spec.get("jsonata") is not None:
            errs.append(FieldError(CA_CERTS_MESSAGE, ["sink.CACerts"]))
    errs.append(within(_reply(spec), "reply"))
    if old is not None:
        before = (old.get("spec") or {}).get("jsonata") is not None
        now = spec.get("jsonata") is not None
        if now and not before:
            errs.append(generic("Transformations types are immutable, jsonata transformation cannot be changed to "
                                "a different transformation type. " + IMMUTABLE_SUGGESTION, "jsonata"))
        elif before and not now:
            errs.append(generic("Transformations types are immutable, transformation type cannot be changed to a "
                                "jsonata transformation. " + IMMUTABLE_SUGGESTION, "jsonata"))
    found = combine(*errs)
    return combine(validate_metadata_of(obj), found.via("spec") if found else None)


# RequestReply -------------------------------------------------------------------------------------

DEFAULT_TIMEOUT = "PT30S"  # feature.DefaultRequestReplyTimeout
TIMEOUT_FLAG = "requestreply-default-timeout"
# Knative's list, "course" (for "source") included: source itself passes its check.
CORE_ATTRIBUTES = ("", "id", "course", "specversion", "type")


def default_request_reply(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    if not spec.get("timeout"):
        spec["timeout"] = ctx.eventing_config("config-features").get(TIMEOUT_FLAG) or DEFAULT_TIMEOUT
    spec["correlationAttribute"] = spec.get("correlationAttribute") or "correlationid"
    spec["replyAttribute"] = spec.get("replyAttribute") or "replyid"
    default_delivery(spec.get("delivery"), _namespace(obj))
    labels = obj["metadata"].get("labels") or {}
    labels["eventing.knative.dev/broker"] = (spec.get("brokerRef") or {}).get("name", "")
    obj["metadata"]["labels"] = labels


def _timeout(value: object) -> FieldError | None:
    if value is None:
        return missing_field("timeout")
    try:
        seconds = parse_iso_duration(value)
    except ValueError as err:
        return invalid_value(value, "timeout", str(err))
    if seconds <= 0:
        return invalid_value(value, "timeout", "timeout must be a positive duration")
    return None


def validate_request_reply(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    namespace = _namespace(obj)
    broker = spec.get("brokerRef") or {}
    errs: list[FieldError | None] = [within(validate_reference(broker, namespace), "brokerRef")]
    if str(broker.get("kind", "")).lower() != "broker":
        errs.append(invalid_value(broker.get("kind", ""), "brokerRef.kind", "brokerRef kind must be Broker"))
    if broker.get("namespace"):
        errs.append(disallowed_fields("brokerRef.namespace"))
    errs.append(within(validate_delivery(spec.get("delivery"), namespace, ctx), "delivery"))
    errs.append(_timeout(spec.get("timeout")))
    for field, name in (("correlationAttribute", "correlationattribute"), ("replyAttribute", "replyattribute")):
        if spec.get(field, "") in CORE_ATTRIBUTES:
            errs.append(invalid_value(spec.get(field, ""), name, f"{name} must be non-empty and cannot be a core "
                                                                "cloudevent attribute (id, type, specversion, source)"))
    found = combine(*errs)
    return combine(validate_metadata_of(obj), found.via("spec") if found else None)
