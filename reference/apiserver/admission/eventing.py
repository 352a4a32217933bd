"""Defaulting and validation of eventing.knative.dev and messaging.knative.dev objects, as Knative
Eventing's webhook does them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import yaml

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
    within,
)
from reference.apiserver.admission.names import set_user_info, validate_metadata_of
from reference.cloudevents import cesql
from reference.cloudevents.filters import validate_cel

BROKER_CLASS = "eventing.knative.dev/broker.class"
DEFAULT_BROKER_CLASS = "MTChannelBasedBroker"
KAFKA_BROKER_CLASS = "Kafka"  # Knative's eventing-kafka-broker
ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9]*$")
ATTRIBUTE_DETAILS = "Attribute name must start with a letter and can only contain lowercase alphanumeric"
# `cel` is kproof's extension (seed 000 names CEL filters); Knative's dialects come first.
DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql", "cel")


def _namespace(obj: dict) -> str:
    return obj["metadata"].get("namespace", "")


def _immutable_spec(obj: dict, old: dict | None, *mutable: str) -> FieldError | None:
    if old is None:
        return None
    strip = lambda spec: {k: v for k, v in (spec or {}).items() if k not in mutable}  # noqa: E731
    if strip(obj.get("spec")) != strip(old.get("spec")):
        return FieldError("Immutable fields changed (-old +new)", ["spec"])
    return None


# Broker -------------------------------------------------------------------------------------------

def broker_defaults(ctx: Context, namespace: str) -> dict:
    """The cluster (or namespace) entry of config-br-defaults."""
    text = ctx.eventing_config("config-br-defaults").get("default-br-config", "")
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        config = {}
    namespaced = (config.get("namespaceDefaults") or {}).get(namespace)
    return namespaced or config.get("clusterDefault") or {}


def default_broker(obj: dict, old: dict | None, ctx: Context) -> None:
    namespace = _namespace(obj)
    defaults = broker_defaults(ctx, namespace)
    annotations = obj["metadata"].setdefault("annotations", {})
    annotations.setdefault(BROKER_CLASS, defaults.get("brokerClass") or DEFAULT_BROKER_CLASS)
    spec = obj.setdefault("spec", {})
    per_class: dict | None = (defaults.get("brokerClasses") or {}).get(annotations[BROKER_CLASS])
    if per_class is None and annotations[BROKER_CLASS] == DEFAULT_BROKER_CLASS:
        per_class = defaults
    if "config" not in spec and per_class and per_class.get("name"):
        spec["config"] = {k: per_class[k] for k in ("apiVersion", "kind", "name", "namespace") if k in per_class}
    if "delivery" not in spec and defaults.get("delivery"):
        spec["delivery"] = dict(defaults["delivery"])
    if isinstance(spec.get("config"), dict):
        spec["config"].setdefault("namespace", namespace)
    default_delivery(spec.get("delivery"), namespace)
    set_user_info(obj, old, ctx.user, "eventing.knative.dev")


def validate_broker(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    namespace = _namespace(obj)
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj)]
    annotations = obj["metadata"].get("annotations") or {}
    if not annotations.get(BROKER_CLASS):
        errs.append(missing_field(BROKER_CLASS))
    if "config" in spec:
        errs.append(within(validate_reference(spec["config"], namespace, allow_other_namespace=True), "spec.config"))
    errs.append(within(validate_delivery(spec.get("delivery"), namespace, ctx), "spec.delivery"))
    if old is not None:
        changed = _immutable_spec(obj, old, "delivery")
        errs.append(changed)
        before = (old["metadata"].get("annotations") or {}).get(BROKER_CLASS)
        if not changed and before != annotations.get(BROKER_CLASS):
            errs.append(FieldError("Immutable annotations changed (-old +new)", ["annotations"],
                                   f'{{string}}:\n\t-: "{before}"\n\t+: "{annotations.get(BROKER_CLASS)}"\n'))
    return combine(*errs)


# Trigger ------------------------------------------------------------------------------------------

def default_trigger(obj: dict, old: dict | None, ctx: Context) -> None:
    namespace = _namespace(obj)
    spec = obj.setdefault("spec", {})
    if spec.get("broker"):
        obj["metadata"].setdefault("labels", {})["eventing.knative.dev/broker"] = spec["broker"]
    spec.setdefault("filter", {})
    default_destination(spec.get("subscriber"), namespace)
    default_delivery(spec.get("delivery"), namespace)


def _validate_attribute_map(mapping: dict, field: str, single: bool) -> FieldError | None:
    errs: list[FieldError | None] = []
    if single and len(mapping) > 1:
        errs.append(generic("Multiple items found, can have only one key-value", field))
    for key in mapping:
        if not ATTRIBUTE_NAME.fullmatch(key):
            errs.append(FieldError(f'invalid key name "{key}"', [f"{field}[{key}]"], ATTRIBUTE_DETAILS))
    return combine(*errs)


def validate_filter(expression: dict) -> FieldError | None:
    """One entry of `spec.filters` (recursing through all / any / not); paths relative to it."""
    if not isinstance(expression, dict):
        return invalid_value(expression, "")
    errs: list[FieldError | None] = []
    dialects = [d for d in DIALECTS if d in expression]
    unknown = sorted(k for k in expression if k not in DIALECTS)
    if unknown:
        errs.append(disallowed_fields(*unknown))
    if len(dialects) > 1:
        errs.append(generic("multiple dialects found, filters can have only one dialect set"))
    for dialect in ("exact", "prefix", "suffix"):
        if dialect in expression:
            value = expression[dialect]
            if not isinstance(value, dict):
                errs.append(invalid_value(value, dialect))
            else:
                errs.append(_validate_attribute_map(value, dialect, single=False))
    for dialect in ("all", "any"):
        if dialect in expression:
            items = expression[dialect]
            if not isinstance(items, list):
                errs.append(invalid_value(items, dialect))
                continue
            for j, item in enumerate(items):
                problem = validate_filter(item)
                errs.append(problem.via_field_index(dialect, j) if problem else None)
    if "not" in expression:
        errs.append(within(validate_filter(expression["not"]), "not"))
    if "cesql" in expression:
        errs.append(_validate_expression(expression["cesql"], "cesql", cesql.parse))
    if "cel" in expression:
        errs.append(_validate_expression(expression["cel"], "cel", validate_cel))
    return combine(*errs)


def _validate_expression(text: object, path: str, parse: Callable[[str], object]) -> FieldError | None:
    """Parses a filter expression as the data plane will; a parse error refuses the Trigger."""
    if not isinstance(text, str):
        return invalid_value(text, path)
    if not text.strip():
        return None
    try:
        parse(text)
    except ValueError as err:
        return FieldError(f"invalid value: {text}", [path], str(err))
    return None


DEPENDENCY_ANNOTATION = "knative.dev/dependency"
INJECTION_ANNOTATION = "eventing.knative.dev/injection"
OBJECT_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


def _validate_dependency(text: str, namespace: str) -> FieldError | None:
    """The annotation must decode as a corev1.ObjectReference naming kind, name and apiVersion in the
    trigger's own namespace (Knative's validateDependencyAnnotation)."""
    try:
        ref = json.loads(text)
    except ValueError as error:
        ref, details = None, str(error)
    else:
        wrong = [k for k in OBJECT_REFERENCE_FIELDS if isinstance(ref, dict) and not isinstance(ref.get(k, ""), str)]
        details = "" if ref is None or (isinstance(ref, dict) and not wrong) else \
            f"cannot unmarshal into Go value of type v1.ObjectReference ({', '.join(wrong) or type(ref).__name__})"
    if details:
        return FieldError(f"The provided annotation was not a corev1.ObjectReference: {json.dumps(text)}", [""],
                          details)
    ref = ref or {}
    errs: list[FieldError | None] = []
    if ref.get("namespace") and ref["namespace"] != namespace:
        errs.append(FieldError(f'Namespace must be empty or equal to the trigger namespace "{namespace}"',
                               ["namespace"]))
    errs += [missing_field(key) for key in ("kind", "name", "apiVersion") if not ref.get(key)]
    return combine(*errs)


def _validate_injection(value: str, broker: object) -> FieldError | None:
    if value not in ("enabled", "disabled"):
        return FieldError(f'The provided injection annotation value can only be "enabled" or "disabled", '
                          f"not {json.dumps(value)}", [""])
    if broker != "default":
        return FieldError("The provided injection annotation is only used for default broker, but non-default "
                          f"broker specified here: {json.dumps(broker)}", [""])
    return None


def _validate_trigger_annotations(obj: dict, namespace: str) -> FieldError | None:
    annotations = obj["metadata"].get("annotations") or {}
    errs: list[FieldError | None] = []
    if DEPENDENCY_ANNOTATION in annotations:
        errs.append(within(_validate_dependency(annotations[DEPENDENCY_ANNOTATION], namespace),
                           f"metadata.annotations[{DEPENDENCY_ANNOTATION}]"))
    if INJECTION_ANNOTATION in annotations:
        broker = (obj.get("spec") or {}).get("broker")
        errs.append(within(_validate_injection(annotations[INJECTION_ANNOTATION], broker),
                           f"metadata.annotations[{INJECTION_ANNOTATION}]"))
    return combine(*errs)


def validate_trigger(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    namespace = _namespace(obj)
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj), _validate_trigger_annotations(obj, namespace)]
    if not spec.get("broker"):
        errs.append(missing_field("spec.broker"))
    attributes = (spec.get("filter") or {}).get("attributes") or {}
    errs.append(within(_validate_attribute_map(attributes, "attributes", single=False), "spec.filter"))
    for i, expression in enumerate(spec.get("filters") or []):
        problem = validate_filter(expression)
        errs.append(problem.via_field_index("filters", i).via("spec") if problem else None)
    errs.append(within(validate_destination(spec.get("subscriber"), namespace), "spec.subscriber"))
    errs.append(within(validate_delivery(spec.get("delivery"), namespace, ctx), "spec.delivery"))
    if old is not None and (old.get("spec") or {}).get("broker") != spec.get("broker"):
        before, after = (old.get("spec") or {}).get("broker"), spec.get("broker")
        errs.append(FieldError("Immutable fields changed (-old +new)", ["broker", "spec"],
                               f'{{string}}:\n\t-: "{before}"\n\t+: "{after}"\n'))
    return combine(*errs)


# Channels and subscriptions -----------------------------------------------------------------------

def _default_channel_template(ctx: Context, namespace: str) -> dict:
    text = ctx.eventing_config("default-ch-webhook").get("default-ch-config", "")
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        config = {}
    chosen = (config.get("namespaceDefaults") or {}).get(namespace) or config.get("clusterDefault") or {}
    template = {k: chosen[k] for k in ("apiVersion", "kind", "spec") if k in chosen}
    return template or {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}


def default_channel(obj: dict, old: dict | None, ctx: Context) -> None:
    obj["metadata"].setdefault("annotations", {}).setdefault("messaging.knative.dev/subscribable", "v1")
    spec = obj.setdefault("spec", {})
    if "channelTemplate" not in spec:
        spec["channelTemplate"] = _default_channel_template(ctx, _namespace(obj))
    default_delivery(spec.get("delivery"), _namespace(obj))


def validate_channel(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj)]
    template = spec.get("channelTemplate")
    if not template:
        errs.append(missing_field("spec.channelTemplate"))
    else:
        missing = [k for k in ("apiVersion", "kind") if not template.get(k)]
        if missing:
            errs.append(missing_field(*missing).via("spec.channelTemplate"))
    # Subscribers belong to the controllers: users may not set or change them.
    before = (old or {}).get("spec", {}).get("subscribers")
    if spec.get("subscribers") and spec["subscribers"] != before and not ctx.user.startswith("system:"):
        errs.append(disallowed_fields("spec.subscribable.subscribers"))
    errs.append(within(validate_delivery(spec.get("delivery"), _namespace(obj), ctx), "spec.delivery"))
    errs.append(_immutable_spec(obj, old, "subscribers", "delivery"))
    return combine(*errs)


def default_in_memory_channel(obj: dict, old: dict | None, ctx: Context) -> None:
    obj["metadata"].setdefault("annotations", {}).setdefault("messaging.knative.dev/subscribable", "v1")
    default_delivery((obj.setdefault("spec", {})).get("delivery"), _namespace(obj))


def validate_in_memory_channel(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj)]
    for i, sub in enumerate(spec.get("subscribers") or []):
        if not sub.get("subscriberUri") and not sub.get("replyUri"):
            errs.append(FieldError("missing field(s)", [
                f"spec.subscribable.subscriber[{i}].replyURI",
                f"spec.subscribable.subscriber[{i}].subscriberURI"], "expected at least one of, got none"))
    scope = (obj["metadata"].get("annotations") or {}).get("eventing.knative.dev/scope")
    if scope is not None and scope not in ("cluster", "namespace"):
        errs.append(FieldError(f"invalid value: {scope}", ["metadata.annotations.[eventing.knative.dev/scope]"],
                               "expected either 'cluster' or 'namespace'"))
    errs.append(within(validate_delivery(spec.get("delivery"), _namespace(obj), ctx), "spec.delivery"))
    return combine(*errs)


def default_subscription(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    namespace = _namespace(obj)
    default_destination(spec.get("subscriber"), namespace)
    default_destination(spec.get("reply"), namespace)
    default_delivery(spec.get("delivery"), namespace)


def validate_subscription(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    namespace = _namespace(obj)
    spec = obj.get("spec") or {}
    channel = spec.get("channel") or {}
    if not channel:
        return FieldError("missing field(s)", ["spec.channel"], "the Subscription must reference a channel")
    errs: list[FieldError | None] = [validate_metadata_of(obj)]
    errs.append(within(validate_reference(channel, namespace), "spec.channel"))
    if channel.get("namespace"):
        errs.append(FieldError("must not set the field(s)", ["spec.channel.namespace"],
                               "only name, apiVersion and kind are supported fields"))
    subscriber, reply = spec.get("subscriber"), spec.get("reply")
    if not subscriber and not reply:
        errs.append(FieldError("missing field(s)", ["spec.reply", "spec.subscriber"],
                               "the Subscription must reference at least one of (reply or a subscriber)"))
    for name, dest in (("subscriber", subscriber), ("reply", reply)):
        if dest:
            errs.append(within(validate_destination(dest, namespace), f"spec.{name}"))
    errs.append(within(validate_delivery(spec.get("delivery"), namespace, ctx), "spec.delivery"))
    errs.append(_immutable_spec(obj, old, "subscriber", "reply", "delivery"))
    return combine(*errs)


# KafkaSink (eventing.knative.dev/v1alpha1, Knative's eventing-kafka-broker) ----------------------

KAFKA_SINK_CONTENT_MODES = ("binary", "structured")


def default_kafka_sink(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    if not spec.get("contentMode"):
        spec["contentMode"] = "binary"


def validate_kafka_sink(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [validate_metadata_of(obj)]
    if spec.get("contentMode") not in KAFKA_SINK_CONTENT_MODES:
        errs.append(invalid_value(spec.get("contentMode"), "spec.contentMode"))
    if not spec.get("bootstrapServers"):
        errs.append(invalid_value(spec.get("bootstrapServers") or [], "spec.bootstrapServers"))
    if not spec.get("topic"):
        errs.append(invalid_value(spec.get("topic") or "", "spec.topic"))
    for count in ("replicationFactor", "numPartitions"):
        if spec.get(count) is not None and spec[count] <= 0:
            errs.append(invalid_value(spec[count], f"spec.{count}"))
    if "auth" in spec and not (((spec.get("auth") or {}).get("secret") or {}).get("ref") or {}).get("name"):
        errs.append(missing_field("spec.auth.secret.ref.name"))
    if old is not None:
        before = old.get("spec") or {}
        errs.extend(FieldError("Immutable field updated", [f"spec.{name}"])
                    for name in ("topic", "replicationFactor", "numPartitions") if spec.get(name) != before.get(name))
    return combine(*errs)
