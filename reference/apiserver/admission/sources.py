"""Defaulting and validation of ContainerSource, PingSource, KafkaSource, ApiServerSource and SinkBinding, as
Knative's webhooks (eventing and eventing-kafka-broker) do them."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reference.apis.selectors import problems as selector_problems
from reference.apiserver.admission.context import Context
from reference.apiserver.admission.duck import (
    default_delivery,
    default_destination,
    eventing_features,
    validate_delivery,
    validate_source_spec,
)
from reference.apiserver.admission.eventing import validate_filter
from reference.apiserver.admission.fielderror import (
    FieldError,
    combine,
    invalid_value,
    missing_field,
    missing_one_of,
    multiple_one_of,
    within,
)
from reference.apiserver.admission.names import validate_metadata_of

_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_FIELD = re.compile(r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)"
                         r"(/[0-9]+)?)*$")


def _namespace(obj: dict) -> str:
    return obj["metadata"].get("namespace", "")


def _default_sink(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    default_destination(spec.get("sink"), _namespace(obj))
    default_delivery(spec.get("delivery"), _namespace(obj))


# ContainerSource ----------------------------------------------------------------------------------

def default_container_source(obj: dict, old: dict | None, ctx: Context) -> None:
    _default_sink(obj)
    containers = obj["spec"].setdefault("template", {}).setdefault("spec", {}).get("containers") or []
    for i, container in enumerate(containers):
        if not container.get("name"):
            container["name"] = f"{obj['metadata']['name']}-{i}"


def validate_container_source(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj), validate_source_spec(spec, _namespace(obj), ctx)]
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        errs.append(missing_field("spec.containers"))
    for i, container in enumerate(containers):
        missing = [k for k in ("name", "image") if not container.get(k)]
        if missing:
            errs.append(missing_field(*missing).via_field_index("containers", i).via("spec"))
    return combine(*errs)


# PingSource ---------------------------------------------------------------------------------------

def default_ping_source(obj: dict, old: dict | None, ctx: Context) -> None:
    _default_sink(obj)
    if not obj["spec"].get("schedule"):
        obj["spec"]["schedule"] = "* * * * *"


def cron_problem(schedule: str) -> str | None:
    """Why a standard 5-field cron schedule is malformed, or None (robfig/cron ParseStandard)."""
    text = schedule.strip()
    if text.startswith("CRON_TZ=") or text.startswith("TZ="):
        zone, _, text = text.partition(" ")
        try:
            ZoneInfo(zone.split("=", 1)[1])
        except (ZoneInfoNotFoundError, ValueError):
            return f"provided bad location {zone.split('=', 1)[1]}: unknown time zone"
    if text.startswith("@"):
        return None if text in _CRON_DESCRIPTORS else f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for value in fields:
        if not _CRON_FIELD.fullmatch(value):
            return f"failed to parse int from {value}"
    return None


def validate_ping_source(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj), validate_source_spec(spec, _namespace(obj), ctx)]
    schedule = spec.get("schedule", "")
    timezone = spec.get("timezone")
    if "@every" in schedule:
        errs.append(invalid_value("unsupported descriptor @every", "spec.schedule"))
    else:
        if timezone:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                errs.append(invalid_value(f"provided bad location {timezone}: unknown time zone {timezone}",
                                          "spec.timezone"))
        problem = cron_problem(schedule)
        if problem:
            errs.append(invalid_value(problem, "spec.schedule"))
    data, data64 = spec.get("data"), spec.get("dataBase64")
    if data and data64:
        errs.append(multiple_one_of("spec.data", "spec.dataBase64"))
    payload: bytes | None = data.encode() if data else None
    if data64:
        try:
            payload = base64.b64decode(data64, validate=True)
        except (binascii.Error, ValueError) as err:
            errs.append(invalid_value(str(err), "spec.dataBase64"))
            payload = None
    if payload is not None and spec.get("contentType") == "application/json":
        try:
            if not isinstance(json.loads(payload), dict):
                raise ValueError("json: cannot unmarshal into Go value of type map[string]interface {}")
        except ValueError as err:
            errs.append(invalid_value(str(err), "spec.dataBase64" if data64 else "spec.data"))
    return combine(*errs)


# KafkaSource --------------------------------------------------------------------------------------

def default_kafka_source(obj: dict, old: dict | None, ctx: Context) -> None:
    _default_sink(obj)
    spec = obj["spec"]
    if not spec.get("consumerGroup"):
        previous = (old or {}).get("spec", {}).get("consumerGroup")
        spec["consumerGroup"] = previous or f"knative-kafka-source-{uuid.uuid4()}"
    spec.setdefault("consumers", 1)
    spec.setdefault("initialOffset", "latest")
    spec.setdefault("ordering", "ordered")


def validate_kafka_source(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    namespace = _namespace(obj)
    errs: list[FieldError | None] = [validate_metadata_of(obj), validate_source_spec(spec, namespace, ctx,
                                                                          sink_required=True)]
    if not spec.get("topics"):
        errs.append(missing_field("spec.topics"))
    if not spec.get("bootstrapServers"):
        errs.append(missing_field("spec.bootstrapServers"))
    offset = spec.get("initialOffset")
    if offset not in (None, "earliest", "latest"):
        errs.append(invalid_value(offset, "spec.initialOffset"))
    ordering = spec.get("ordering")
    if ordering not in (None, "ordered", "unordered"):
        errs.append(FieldError(f"invalid value: {ordering}", ["spec.ordering"],
                               "expected one of: [ordered,unordered]"))
    consumers = spec.get("consumers")
    if consumers is not None and consumers < 1:
        errs.append(invalid_value(consumers, "spec.consumers"))
    errs.append(within(validate_delivery(spec.get("delivery"), namespace, ctx), "spec.delivery"))
    if old is not None and (old.get("spec") or {}).get("consumerGroup") != spec.get("consumerGroup"):
        errs.append(FieldError("Immutable fields changed (-old +new)", ["spec"],
                               f'{{string}}:\n\t-: "{old["spec"].get("consumerGroup")}"\n'
                               f'\t+: "{spec.get("consumerGroup")}"\n'))
    return combine(*errs)


# ApiServerSource ----------------------------------------------------------------------------------

API_SERVER_MODES = ("Reference", "Resource")
NEW_APISERVER_FILTERS = "new-apiserversource-filters"


def default_api_server_source(obj: dict, old: dict | None, ctx: Context) -> None:
    _default_sink(obj)
    spec = obj["spec"]
    if not spec.get("mode"):
        spec["mode"] = "Reference"
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = "default"


def _group_version_problem(api_version: object) -> bool:
    """schema.ParseGroupVersion's refusal: more than one slash (or not a string)."""
    return not isinstance(api_version, str) or api_version.count("/") > 1


def validate_api_server_source(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj), validate_source_spec(spec, _namespace(obj), ctx)]
    if spec.get("mode") not in API_SERVER_MODES:
        errs.append(invalid_value(spec.get("mode", ""), "spec.mode"))
    resources = spec.get("resources") or []
    if not resources:
        errs.append(missing_field("spec.resources"))
    for i, resource in enumerate(resources):
        if _group_version_problem(resource.get("apiVersion", "")):
            errs.append(invalid_value(resource.get("apiVersion"), "apiVersion").via_field_index("resources", i)
                        .via("spec"))
        if not str(resource.get("kind") or "").strip():
            errs.append(missing_field("kind").via_field_index("resources", i).via("spec"))
    owner = spec.get("owner")
    if owner is not None:
        if _group_version_problem(owner.get("apiVersion", "")):
            errs.append(invalid_value(owner.get("apiVersion"), "spec.owner.apiVersion"))
        if not str(owner.get("kind") or "").strip():
            errs.append(missing_field("spec.owner.kind"))
    filters = spec.get("filters") or []
    if filters and eventing_features(ctx).get(NEW_APISERVER_FILTERS) != "enabled":
        errs.append(FieldError("Filters is not empty but the NewAPIServerFilters feature is disabled.",
                               ["spec.filters"]))
    for i, expression in enumerate(filters):
        problem = validate_filter(expression)
        errs.append(problem.via_field_index("filters", i).via("spec") if problem else None)
    return combine(*errs)


# SinkBinding --------------------------------------------------------------------------------------

def default_sink_binding(obj: dict, old: dict | None, ctx: Context) -> None:
    _default_sink(obj)
    subject = obj["spec"].setdefault("subject", {})
    if not subject.get("namespace"):
        subject["namespace"] = _namespace(obj)


def validate_sink_binding(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    """tracker.Reference's rules for the subject, the sink, and the subject's namespace being the binding's."""
    spec = obj.get("spec") or {}
    subject = spec.get("subject") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj), validate_source_spec(spec, _namespace(obj), ctx)]
    missing = [k for k in ("apiVersion", "kind", "namespace") if not subject.get(k)]
    if missing:
        errs.append(missing_field(*missing).via("spec.subject"))
    if subject.get("selector") is not None and subject.get("name"):
        errs.append(multiple_one_of("selector", "name").via("spec.subject"))
    elif subject.get("selector") is not None:
        errs += [invalid_value(subject["selector"], f"spec.subject.selector.{p}")
                 for p in selector_problems(subject["selector"])]
    elif not subject.get("name"):
        errs.append(missing_one_of("selector", "name").via("spec.subject"))
    if subject.get("namespace") and subject["namespace"] != _namespace(obj):
        errs.append(invalid_value(subject["namespace"], "spec.subject.namespace"))
    return combine(*errs)
