"""Knative's rules for the PodSpec inside a Revision: defaults and validation (k8s_validation.go).

Paths are relative to the RevisionSpec; callers prefix `spec.template.spec` or `spec`.
"""

from __future__ import annotations

import posixpath
import re

from reference.apis.objects import user_container_index
from reference.apiserver.admission.context import Context
from reference.apiserver.admission.fielderror import (
    FieldError,
    combine,
    disallowed_fields,
    generic,
    invalid_value,
    missing_field,
    missing_one_of,
    multiple_one_of,
    out_of_bounds,
    within,
)
from reference.apiserver.admission.names import is_dns1123_label, is_dns1123_subdomain
from reference.apiserver.admission.numbers import config_int
from reference.apiserver.admission.resources import validate_requirements

RESERVED_PORTS = (8012, 8013, 8022, 9090, 9091, 8008)
RESERVED_ENV = ("PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION")
RESERVED_MOUNT_PATHS = ("/", "/dev", "/dev/log")

FEATURE_DEFAULTS = {
    "multi-container": "Enabled",
    "multi-container-probing": "Disabled",
    "kubernetes.podspec-volumes-emptydir": "Enabled",
    "kubernetes.podspec-dryrun": "Allowed",
}

# PodSpec fields behind a config-features flag (allowed unless the flag is Disabled).
_GATED_POD_FIELDS = {
    "affinity": "kubernetes.podspec-affinity",
    "topologySpreadConstraints": "kubernetes.podspec-topologyspreadconstraints",
    "hostAliases": "kubernetes.podspec-hostaliases",
    "nodeSelector": "kubernetes.podspec-nodeselector",
    "runtimeClassName": "kubernetes.podspec-runtimeclassname",
    "tolerations": "kubernetes.podspec-tolerations",
    "securityContext": "kubernetes.podspec-securitycontext",
    "shareProcessNamespace": "kubernetes.podspec-shareprocessnamespace",
    "priorityClassName": "kubernetes.podspec-priorityclassname",
    "schedulerName": "kubernetes.podspec-schedulername",
    "initContainers": "kubernetes.podspec-init-containers",
    "dnsPolicy": "kubernetes.podspec-dnspolicy",
    "dnsConfig": "kubernetes.podspec-dnsconfig",
    "hostIPC": "kubernetes.podspec-hostipc",
    "hostPID": "kubernetes.podspec-hostpid",
    "hostNetwork": "kubernetes.podspec-hostnetwork",
}
_ALWAYS_POD_FIELDS = {"serviceAccountName", "containers", "volumes", "imagePullSecrets",
                      "enableServiceLinks", "automountServiceAccountToken"}
_REVISION_FIELDS = {"containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds",
                    "idleTimeoutSeconds"}
_CONTAINER_FIELDS = {"name", "args", "command", "env", "workingDir", "envFrom", "image", "imagePullPolicy",
                     "livenessProbe", "ports", "readinessProbe", "resources", "securityContext",
                     "startupProbe", "terminationMessagePath", "terminationMessagePolicy", "volumeMounts"}
_PROBE_HANDLERS = ("exec", "grpc", "httpGet", "tcpSocket")

MAX_INT32 = 2**31 - 1
RFC1123_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                     "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                     "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")

# A permissive form of the OCI image reference grammar.
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$"
)


def features(ctx: Context) -> dict[str, str]:
    flags = dict(FEATURE_DEFAULTS)
    flags.update(ctx.serving_config("config-features"))
    return flags


def _flag(flags: dict[str, str], key: str) -> str:
    return (flags.get(key) or "Disabled").strip().lower()


def enabled(flags: dict[str, str], key: str) -> bool:
    return _flag(flags, key) == "enabled"


def allowed(flags: dict[str, str], key: str) -> bool:
    return _flag(flags, key) != "disabled"


# Defaults -----------------------------------------------------------------------------------------

def default_revision_spec(spec: dict, ctx: Context, creating: bool) -> None:
    defaults = ctx.serving_config("config-defaults")
    if not spec.get("timeoutSeconds"):
        spec["timeoutSeconds"] = config_int(defaults, "revision-timeout-seconds", 300)
    if "containerConcurrency" not in spec:
        spec["containerConcurrency"] = config_int(defaults, "container-concurrency", 0)
    for key, config_key in (("responseStartTimeoutSeconds", "revision-response-start-timeout-seconds"),
                            ("idleTimeoutSeconds", "revision-idle-timeout-seconds")):
        value = config_int(defaults, config_key, 0)
        if key not in spec and 0 < value < spec["timeoutSeconds"]:
            spec[key] = value
    links = defaults.get("enable-service-links", "false").strip().lower()
    if creating and "enableServiceLinks" not in spec and links in ("true", "false"):
        spec["enableServiceLinks"] = links == "true"
    containers = spec.get("containers") or []
    _default_container_names(containers, defaults.get("container-name-template", "user-container"))
    if containers:
        user = containers[user_container_index(containers)]
        probe = user.setdefault("readinessProbe", {})
        if not any(h in probe for h in _PROBE_HANDLERS):
            probe["tcpSocket"] = {"port": 0}
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    for container in containers:
        _default_resources(container.setdefault("resources", {}), defaults)
        probe = container.get("readinessProbe")
        if probe is not None:
            if not probe.get("successThreshold"):
                probe["successThreshold"] = 1
            if probe.get("periodSeconds"):
                probe.setdefault("failureThreshold", 3)
                probe.setdefault("timeoutSeconds", 1)
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name")) or {}
            if "emptyDir" not in volume and "persistentVolumeClaim" not in volume:
                mount["readOnly"] = True


# config-defaults keys Knative's webhook fills every container's unset requests and limits from
RESOURCE_DEFAULTS = {("requests", "cpu"): "revision-cpu-request", ("requests", "memory"): "revision-memory-request",
                     ("requests", "ephemeral-storage"): "revision-ephemeral-storage-request",
                     ("limits", "cpu"): "revision-cpu-limit", ("limits", "memory"): "revision-memory-limit",
                     ("limits", "ephemeral-storage"): "revision-ephemeral-storage-limit"}


def _default_resources(resources: dict, defaults: dict[str, str]) -> None:
    """A container's unset requests and limits from config-defaults (Knative's RevisionSpec.applyDefault)."""
    for (section, name), key in RESOURCE_DEFAULTS.items():
        value = (defaults.get(key) or "").strip()
        if value and isinstance(resources.get(section, {}), dict) and name not in (resources.get(section) or {}):
            resources[section] = {**(resources.get(section) or {}), name: value}


VALUE_SOURCES = ("configMapKeyRef", "fieldRef", "resourceFieldRef", "secretKeyRef")


def value_from_error(value_from: object) -> FieldError | None:
    """An env var's valueFrom names exactly one source, as Kubernetes' validation requires."""
    sources = [k for k in VALUE_SOURCES if isinstance(value_from, dict) and k in value_from]
    if len(sources) > 1:
        return multiple_one_of(*sources).via("valueFrom")
    if not sources:
        return missing_one_of(*VALUE_SOURCES).via("valueFrom")
    return None


def _default_container_names(containers: list[dict], template: str) -> None:
    base = template if "{{" not in template else "user-container"
    if len(containers) == 1:
        if not containers[0].get("name"):
            containers[0]["name"] = base
        return
    used = {c.get("name") for c in containers if c.get("name")}
    counter = 0
    for container in containers:
        if container.get("name"):
            continue
        while f"{base}-{counter}" in used:
            counter += 1
        container["name"] = f"{base}-{counter}"
        used.add(container["name"])


# Validation ---------------------------------------------------------------------------------------

def validate_revision_spec(spec: dict, ctx: Context) -> FieldError | None:
    defaults = ctx.serving_config("config-defaults")
    flags = features(ctx)
    errs: list[FieldError | None] = [validate_pod_spec(spec, flags)]
    timeout = spec.get("timeoutSeconds")
    max_timeout = config_int(defaults, "max-revision-timeout-seconds", 600)
    if timeout and not 0 <= timeout <= max_timeout:
        errs.append(out_of_bounds(timeout, 0, max_timeout, "timeoutSeconds"))
    for key in ("responseStartTimeoutSeconds", "idleTimeoutSeconds"):
        value = spec.get(key)
        limit = timeout or config_int(defaults, "revision-timeout-seconds", 300)
        if value is not None and not 0 <= value <= max(limit, max_timeout if key == "idleTimeoutSeconds"
                                                        else limit):
            errs.append(out_of_bounds(value, 0, limit, key))
    cc = spec.get("containerConcurrency")
    if cc is not None:
        low = 0 if defaults.get("allow-container-concurrency-zero", "true").lower() != "false" else 1
        high = config_int(defaults, "container-concurrency-max-limit", 1000)
        if not low <= cc <= high:
            errs.append(out_of_bounds(cc, low, high, "containerConcurrency"))
    return combine(*errs)


def validate_pod_spec(spec: dict, flags: dict[str, str]) -> FieldError | None:
    errs: list[FieldError | None] = []
    allowed_fields = set(_ALWAYS_POD_FIELDS) | _REVISION_FIELDS
    allowed_fields |= {f for f, flag in _GATED_POD_FIELDS.items() if allowed(flags, flag)}
    extra = sorted(k for k in spec if k not in allowed_fields)
    if spec.get("automountServiceAccountToken") is True:
        extra.append("automountServiceAccountToken")
    if extra:
        errs.append(disallowed_fields(*extra))
    sa = spec.get("serviceAccountName")
    if sa and not is_dns1123_subdomain(sa):
        errs.append(invalid_value(sa, "serviceAccountName", RFC1123_SUBDOMAIN))
    errs.append(within(_security_context_ids(spec.get("securityContext")), "securityContext"))
    volumes = spec.get("volumes") or []
    containers = spec.get("containers") or []
    init_containers = spec.get("initContainers") or []
    errs.append(_validate_volumes(volumes, containers + init_containers, flags))
    if init_containers and not enabled(flags, "kubernetes.podspec-init-containers"):
        errs.append(generic(f"pod spec support for init-containers is off, but found "
                            f"{len(init_containers)} init containers"))
    if not containers:
        errs.append(missing_field("containers"))
        return combine(*errs)
    if len(containers) > 1 and not enabled(flags, "multi-container"):
        errs.append(generic(f"multi-container is off, but found {len(containers)} containers"))
    errs.append(_validate_ports(containers))
    volume_names = {v.get("name"): v for v in volumes}
    seen: set[str] = set()
    user_index = user_container_index(containers)
    serving_port = _serving_port(containers)
    for i, container in enumerate(containers):
        name = container.get("name")
        if name and name in seen:
            errs.append(generic(f'duplicate container name "{name}"', "name").via_field_index("containers", i))
        seen.add(name)
        problem = _validate_container(container, volume_names, flags, i == user_index, serving_port)
        if problem:
            errs.append(problem.via_field_index("containers", i))
    for i, container in enumerate(init_containers):
        for probe in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
            if probe in container:
                errs.append(generic("field not allowed in an init container", probe)
                            .via_field_index("containers", i))
    return combine(*errs)


def _security_context_ids(context: object) -> FieldError | None:
    """runAsUser and runAsGroup within 0..int32, as Knative checks them."""
    if not isinstance(context, dict):
        return None
    errs = []
    for name in ("runAsUser", "runAsGroup"):
        value = context.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or
                                  not 0 <= value <= MAX_INT32):
            errs.append(out_of_bounds(value, 0, MAX_INT32, name))
    return combine(*errs)


def _serving_port(containers: list[dict]) -> dict:
    for container in containers:
        for port in container.get("ports") or []:
            return {"name": port.get("name") or "http", "containerPort": port.get("containerPort") or 8080}
    return {"name": "http", "containerPort": 8080}


def _validate_ports(containers: list[dict]) -> FieldError | None:
    ports = [p for c in containers for p in c.get("ports") or []]
    if len(containers) > 1 and not ports:
        return missing_field("containers[*].ports")
    if len(ports) > 1:
        return FieldError("more than one container port is set", ["containers[*].ports"],
                          "Only a single port is allowed across all containers")
    return None


def _validate_container(container: dict, volumes: dict[str | None, dict], flags: dict[str, str],
                        is_user: bool, serving_port: dict) -> FieldError | None:
    if not container:
        return missing_field("")
    errs: list[FieldError | None] = []
    extra = sorted(k for k in container if k not in _CONTAINER_FIELDS)
    if extra:
        errs.append(disallowed_fields(*extra))
    if container.get("name") == "queue-proxy":
        errs.append(generic('"queue-proxy" is a reserved container name', "name"))
    image = container.get("image")
    if not image:
        errs.append(missing_field("image"))
    elif not _IMAGE.fullmatch(image):
        errs.append(FieldError("Failed to parse image reference", ["image"],
                               f'image: "{image}", error: could not parse reference: {image}'))
    errs.append(within(_security_context_ids(container.get("securityContext")), "securityContext"))
    reserved_env = RESERVED_ENV if is_user else RESERVED_ENV[1:]
    for j, env in enumerate(container.get("env") or []):
        if not env.get("name"):
            errs.append(missing_field("name").via_field_index("env", j))
        elif env["name"] in reserved_env:
            errs.append(generic(f'"{env["name"]}" is a reserved environment variable', "name")
                        .via_field_index("env", j))
        source = env.get("valueFrom") or {}
        problem = value_from_error(env["valueFrom"]) if "valueFrom" in env else None
        if problem:
            errs.append(problem.via_field_index("env", j))
        gated = [k for k in ("fieldRef", "resourceFieldRef") if k in source]
        if gated and not allowed(flags, "kubernetes.podspec-fieldref"):
            errs.append(disallowed_fields(*gated).via("valueFrom").via_field_index("env", j))
    for env_from in container.get("envFrom") or []:
        refs = [k for k in ("configMapRef", "secretRef") if k in env_from]
        if len(refs) == 2:
            errs.append(multiple_one_of("configMapRef", "secretRef").via("envFrom"))
        elif not refs:
            errs.append(missing_one_of("configMapRef", "secretRef").via("envFrom"))
    ports = container.get("ports") or []
    for port in ports[:1] if is_user else ports:
        problem = _validate_port(port)
        if problem:
            errs.append(problem.via("ports"))
    resources = container.get("resources") or {}
    if "claims" in resources:
        errs.append(disallowed_fields("claims").via("resources"))
    errs.append(within(validate_requirements(resources), "resources"))
    policy = container.get("terminationMessagePolicy")
    if policy and policy not in ("File", "FallbackToLogsOnError"):
        errs.append(invalid_value(policy, "terminationMessagePolicy"))
    errs.append(_validate_mounts(container.get("volumeMounts") or [], volumes))
    if is_user:
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                errs.append(within(_validate_probe(container[probe], serving_port, probe == "readinessProbe"), probe))
    elif not enabled(flags, "multi-container-probing"):
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                errs.append(disallowed_fields(probe))
    return combine(*errs)


def _validate_port(port: dict) -> FieldError | None:
    errs: list[FieldError | None] = []
    extra = sorted(k for k in port if k not in ("containerPort", "name", "protocol"))
    if extra:
        errs.append(disallowed_fields(*extra))
    number = port.get("containerPort", 0)
    if number in RESERVED_PORTS:
        errs.append(FieldError(f"invalid value: {number} is a reserved port", ["containerPort"],
                               f"{number} is a reserved port, please use a different value"))
    elif not 0 <= number <= 65535:
        errs.append(out_of_bounds(number, 0, 65535, "containerPort"))
    protocol = port.get("protocol", "")
    if protocol not in ("", "TCP"):
        errs.append(invalid_value(protocol, "protocol"))
    name = port.get("name", "")
    if name not in ("", "h2c", "http1"):
        errs.append(FieldError(f"Port name {name} is not allowed", [""],
                               "Name must be empty, or one of: 'h2c', 'http1'"))
    return combine(*errs)


def _validate_probe(probe: dict, serving_port: dict, readiness: bool) -> FieldError | None:
    errs: list[FieldError | None] = []
    handlers = [h for h in ("exec", "grpc", "httpGet", "tcpSocket") if h in probe]
    if not handlers:
        errs.append(missing_one_of("exec", "grpc", "httpGet", "tcpSocket"))
    elif len(handlers) > 1:
        errs.append(multiple_one_of(*handlers))
    if "terminationGracePeriodSeconds" in probe:
        errs.append(disallowed_fields("terminationGracePeriodSeconds"))
    for handler in ("httpGet", "tcpSocket"):
        port = (probe.get(handler) or {}).get("port")
        if isinstance(port, str) and port != serving_port["name"]:
            errs.append(FieldError(f"invalid value: {port}", [f"{handler}.port"],
                                   "Probe port must match container port"))
    errs.extend(_probe_handler_errors(probe))
    if readiness:
        for key in ("periodSeconds", "initialDelaySeconds"):
            if probe.get(key, 0) < 0:
                errs.append(out_of_bounds(probe[key], 0, 2147483647, key))
        if probe.get("successThreshold", 1) < 1:
            errs.append(out_of_bounds(probe["successThreshold"], 1, 2147483647, "successThreshold"))
        if not probe.get("periodSeconds"):
            if probe.get("failureThreshold"):
                errs.append(generic("failureThreshold is disallowed when periodSeconds is zero",
                                    "failureThreshold"))
            if probe.get("timeoutSeconds"):
                errs.append(generic("timeoutSeconds is disallowed when periodSeconds is zero",
                                    "timeoutSeconds"))
        else:
            for key in ("timeoutSeconds", "failureThreshold"):
                if key in probe and probe[key] < 1:
                    errs.append(out_of_bounds(probe[key], 1, 2147483647, key))
    return combine(*errs)


def _probe_handler_errors(probe: dict) -> list[FieldError]:
    """Port numbers in range (0 stands for the serving port, which Knative fills in) and an exec
    probe with a command, as the API server checks them on the Deployment."""
    errs = []
    for handler in ("httpGet", "tcpSocket", "grpc"):
        port = (probe.get(handler) or {}).get("port")
        if isinstance(port, int) and not isinstance(port, bool) and not 0 <= port <= 65535:
            errs.append(out_of_bounds(port, 0, 65535, f"{handler}.port"))
    if "exec" in probe and not (probe.get("exec") or {}).get("command"):
        errs.append(missing_field("exec.command"))
    return errs


# Volume paths -------------------------------------------------------------------------------------

def _local_path_errors(text: str, path: str, *, not_dotdot_prefix: bool) -> list[FieldError]:
    """Kubernetes' validateLocalDescendingPath (and validateLocalNonReservedPath): a file path inside a
    volume must stay inside it."""
    errs = []
    if text.startswith("/"):
        errs.append(invalid_value(text, path, "must be a relative path"))
    if ".." in text.split("/"):
        errs.append(invalid_value(text, path, "must not contain '..'"))
    elif not_dotdot_prefix and text.startswith(".."):
        errs.append(invalid_value(text, path, "must not start with '..'"))
    return errs


def mount_path_errors(mount: object) -> list[FieldError]:
    """A volumeMount's subPath; paths relative to the mount."""
    sub_path = mount.get("subPath") if isinstance(mount, dict) else None
    if not isinstance(sub_path, str) or not sub_path:
        return []
    return _local_path_errors(sub_path, "subPath", not_dotdot_prefix=False)


def _items_errors(items: object, *keys: str) -> list[FieldError]:
    """`items` of a configMap, secret or downwardAPI source: `keys` required, paths inside the volume."""
    errs: list[FieldError] = []
    for j, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            errs.append(invalid_value(item, f"items[{j}]"))
            continue
        missing = [k for k in keys if not item.get(k)]
        if missing:
            errs.append(missing_field(*missing).via_field_index("items", j))
        if isinstance(item.get("path"), str) and item["path"]:
            errs.extend(e.via_field_index("items", j)
                        for e in _local_path_errors(item["path"], "path", not_dotdot_prefix=True))
    return errs


def _projected_errors(projected: object) -> list[FieldError]:
    sources = projected.get("sources") if isinstance(projected, dict) else None
    errs: list[FieldError] = []
    for k, source in enumerate(sources if isinstance(sources, list) else []):
        if not isinstance(source, dict):
            continue
        here: list[FieldError] = []
        for name, keys in (("configMap", ("key", "path")), ("secret", ("key", "path")), ("downwardAPI", ("path",))):
            if isinstance(source.get(name), dict):
                here.extend(e.via(name) for e in _items_errors(source[name].get("items"), *keys))
        token = source.get("serviceAccountToken")
        if isinstance(token, dict):
            path = token.get("path")
            if not isinstance(path, str) or not path:
                here.append(missing_field("serviceAccountToken.path"))
            else:
                here.extend(e.via("serviceAccountToken")
                            for e in _local_path_errors(path, "path", not_dotdot_prefix=True))
        errs.extend(e.via_field_index("sources", k) for e in here)
    return errs


def volume_path_errors(volume: object) -> list[FieldError]:
    """File paths a configMap, secret or projected volume writes; paths relative to the volume."""
    if not isinstance(volume, dict):
        return []
    errs: list[FieldError] = []
    for source in ("secret", "configMap"):
        if isinstance(volume.get(source), dict):
            errs.extend(e.via(source) for e in _items_errors(volume[source].get("items"), "key", "path"))
    errs.extend(e.via("projected") for e in _projected_errors(volume.get("projected")))
    return errs


def _validate_mounts(mounts: list[dict], volumes: dict[str | None, dict]) -> FieldError | None:
    errs: list[FieldError | None] = []
    seen: set[str] = set()
    for j, mount in enumerate(mounts):
        errs_here: list[FieldError | None] = []
        volume = volumes.get(mount.get("name"))
        if volume is None:
            errs_here.append(generic("volumeMount has no matching volume", "name"))
        path = mount.get("mountPath") or ""
        if not path:
            errs_here.append(missing_field("mountPath"))
        elif posixpath.normpath(path) in RESERVED_MOUNT_PATHS:
            errs_here.append(generic(f'mountPath "{path}" is a reserved path', "mountPath"))
        elif not path.startswith("/"):
            errs_here.append(invalid_value(path, "mountPath"))
        elif path in seen:
            errs_here.append(invalid_value(f'"{path}" must be unique', "mountPath"))
        seen.add(path)
        errs_here.extend(mount_path_errors(mount))
        if volume is not None:
            writable = "emptyDir" in volume or "persistentVolumeClaim" in volume
            if not writable and not mount.get("readOnly"):
                errs_here.append(generic("volume mount should be readOnly for this type of volume",
                                         "readOnly"))
            claim = volume.get("persistentVolumeClaim") or {}
            if claim.get("readOnly") and not mount.get("readOnly"):
                errs_here.append(generic("volume is readOnly but volume mount is not", "readOnly"))
        errs.extend(e.via_field_index("volumeMounts", j) for e in errs_here if e)
    return combine(*errs)


_VOLUME_SOURCES = ("configMap", "emptyDir", "persistentVolumeClaim", "projected", "secret", "csi")


def _validate_volumes(volumes: list[dict], containers: list[dict], flags: dict[str, str]
                      ) -> FieldError | None:
    errs: list[FieldError | None] = []
    mounted = {m.get("name") for c in containers for m in c.get("volumeMounts") or []}
    names: set[str] = set()
    accepted = ["secret", "configMap", "projected"]
    if enabled(flags, "kubernetes.podspec-volumes-emptydir"):
        accepted.append("emptyDir")
    if enabled(flags, "kubernetes.podspec-persistent-volume-claim"):
        accepted.append("persistentVolumeClaim")
    for i, volume in enumerate(volumes):
        here: list[FieldError | None] = []
        name = volume.get("name") or ""
        if name in names:
            here.append(generic(f'duplicate volume name "{name}"', "name"))
        names.add(name)
        if name not in mounted:
            here.append(generic(f'volume with name "{name}" not mounted', "name"))
        if not name:
            here = [missing_field("name")]
        elif not is_dns1123_label(name):
            here = [invalid_value(name, "name")]
        sources = [s for s in _VOLUME_SOURCES if s in volume]
        if "emptyDir" in sources and not enabled(flags, "kubernetes.podspec-volumes-emptydir"):
            here.append(generic(f"EmptyDir volume support is disabled, but found EmptyDir volume {name}"))
        if "persistentVolumeClaim" in sources:
            claim = volume["persistentVolumeClaim"]
            claim_name = claim.get("claimName", "")
            if not enabled(flags, "kubernetes.podspec-persistent-volume-claim"):
                here.append(generic(f"Persistent volume claim support is disabled, but found persistent "
                                    f"volume claim {claim_name}"))
            elif not claim.get("readOnly") and not enabled(flags,
                                                           "kubernetes.podspec-persistent-volume-write"):
                here.append(generic(f"Persistent volume write support is disabled, but found persistent "
                                    f"volume claim {claim_name} that is not read-only"))
        unsupported = [s for s in sources if s not in accepted and s not in ("emptyDir",
                                                                              "persistentVolumeClaim")]
        if unsupported:
            here.append(disallowed_fields(*unsupported))
        usable = [s for s in sources if s in accepted]
        if not sources:
            here.append(missing_one_of(*sorted(accepted)))
        elif len(usable) > 1:
            here.append(multiple_one_of(*usable))
        medium = (volume.get("emptyDir") or {}).get("medium", "")
        if medium not in ("", "Memory"):
            here.append(invalid_value(medium, "emptyDir.medium"))
        here.extend(volume_path_errors(volume))
        errs.extend(e.via_field_index("volumes", i) for e in here if e)
    return combine(*errs)
