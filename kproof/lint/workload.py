"""What a Knative Serving manifest says about its workload: the revision template, GPUs, model servers.

A container counts as a model server when any of these holds (the heuristic behind KP006 and KP007):
- its pod asks for a GPU (`nvidia.com/gpu` or `aliyun.com/gpu-mem` in requests or limits);
- its image is a known model server (MODEL_IMAGES: the seeds' intent and sentiment services and the
  common inference servers), matched by repository path, any registry host, any tag;
- it is told where to load a model from: an env var of MODEL_ENV or a flag of MODEL_FLAGS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from reference.apiserver.admission import autoscaling
from reference.apiserver.admission.numbers import parse_duration, parse_float

SERVING_GROUP = "serving.knative.dev"
GPU_RESOURCES = ("nvidia.com/gpu", "aliyun.com/gpu-mem")

# Knative's defaults (config-autoscaler, config-defaults), used where a manifest leaves a setting out.
DEFAULT_WINDOW = 60.0
DEFAULT_PANIC_WINDOW_PERCENTAGE = 10.0
DEFAULT_TIMEOUT_SECONDS = 300

# Repository path -> the directory the image reads its model from by default (None: no fixed one).
MODEL_IMAGES: dict[str, str | None] = {
    "ai-samples/bert-intent-detection": "/data/models",  # seed 001 (MODEL_DIR in fixtures/images.yaml)
    "kproof/intent": "/data/models",
    "kproof/sentiment": None,
    "mihaitodor/benthos-vader": None,  # seed 002
    "tensorflow/serving": "/models",  # MODEL_BASE_PATH
    "nvidia/tritonserver": None,
    "pytorch/torchserve": None,
    "kserve/sklearnserver": None,
    "kserve/xgbserver": None,
    "kserve/lgbserver": None,
    "kserve/huggingfaceserver": None,
    "seldonio/mlserver": None,
    "vllm/vllm-openai": None,
    "huggingface/text-generation-inference": None,
}
# Env vars that tell a server where its model (or model cache) lives.
MODEL_ENV = ("MODEL_DIR", "MODEL_PATH", "MODELS_DIR", "MODEL_REPOSITORY", "MODEL_BASE_PATH", "MODEL_STORE",
             "HF_HOME", "TRANSFORMERS_CACHE", "HUGGINGFACE_HUB_CACHE", "SENTENCE_TRANSFORMERS_HOME")
# Command-line flags that do (Triton, TensorFlow Serving, TorchServe, vLLM and the like).
MODEL_FLAGS = re.compile(r"--model(?:[-_](?:repository|store|base[-_]path|dir|path))?")


@dataclass(frozen=True)
class Template:
    """A revision template: its metadata and pod spec, and where they sit in the document."""

    path: tuple[str, ...]  # ("spec", "template") in a Service or Configuration, () in a Revision
    metadata: dict
    spec: dict

    def at(self, *keys: str | int) -> tuple[str | int, ...]:
        return (*self.path, *keys)

    def annotation_path(self, key: str) -> tuple[str | int, ...]:
        return self.at("metadata", "annotations", key)

    @property
    def annotations(self) -> dict:
        found = self.metadata.get("annotations")
        return found if isinstance(found, dict) else {}

    @property
    def containers(self) -> list[dict]:
        found = self.spec.get("containers")
        return [c if isinstance(c, dict) else {} for c in found] if isinstance(found, list) else []


def revision_template(doc: dict) -> Template | None:
    """The revision template of a Knative Service, Configuration or Revision (any serving version
    that has one in the v1 shape)."""
    api_version = doc.get("apiVersion")
    if not isinstance(api_version, str) or api_version.split("/")[0] != SERVING_GROUP:
        return None
    kind = doc.get("kind")
    if kind in ("Service", "Configuration"):
        spec = doc.get("spec")
        template = spec.get("template") if isinstance(spec, dict) else None
        path: tuple[str, ...] = ("spec", "template")
    elif kind == "Revision":
        template, path = doc, ()
    else:
        return None
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return None
    metadata = template.get("metadata")
    return Template(path, metadata if isinstance(metadata, dict) else {}, template["spec"])


def annotation(template: Template, keys: tuple[str, ...]) -> tuple[str, str] | None:
    """(key written, value as text) of the first of `keys` present: kebab-case first, as Knative reads."""
    found = autoscaling.lookup(template.annotations, keys)
    return (found[0], str(found[1])) if found else None


def number(text: str) -> float | None:
    try:
        return parse_float(text.strip())
    except ValueError:
        return None


def seconds(text: str) -> float | None:
    try:
        return parse_duration(text.strip())
    except ValueError:
        return None


def container_concurrency(template: Template) -> int | None:
    """containerConcurrency; None when it is unset or not an integer (admission names that)."""
    value = template.spec.get("containerConcurrency")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def metric(template: Template) -> str:
    found = annotation(template, autoscaling.METRIC)
    return found[1] if found else "concurrency"


def uses_kpa(template: Template) -> bool:
    found = annotation(template, autoscaling.CLASS)
    return not found or found[1] == autoscaling.KPA


def gpu_requests(template: Template) -> list[str]:
    """`nvidia.com/gpu: 1`-style texts for every GPU a container of the pod asks for."""
    asked = []
    for container in [*template.containers, *_list(template.spec.get("initContainers"))]:
        resources = container.get("resources") if isinstance(container, dict) else None
        if not isinstance(resources, dict):
            continue
        for section in ("limits", "requests"):
            amounts = resources.get(section)
            if not isinstance(amounts, dict):
                continue
            for name in GPU_RESOURCES:
                if name in amounts and str(amounts[name]).strip() not in ("0", ""):
                    text = f"{name}: {amounts[name]}"
                    if text not in asked:
                        asked.append(text)
    return asked


def serving_containers(template: Template) -> list[int]:
    """Indexes of the containers that serve traffic: the one declaring ports, or the only one."""
    containers = template.containers
    with_ports = [i for i, c in enumerate(containers) if c.get("ports")]
    if with_ports:
        return with_ports
    return [0] if len(containers) == 1 else []


def image_repository(image: object) -> str:
    """The repository path without registry host, tag or digest: `ai-samples/bert-intent-detection` of
    `registry.cn-hangzhou.aliyuncs.com/ai-samples/bert-intent-detection:1.0.1`."""
    if not isinstance(image, str):
        return ""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


@dataclass(frozen=True)
class ModelPath:
    directory: str
    origin: str  # how the container is told: `env MODEL_DIR`, `--model-repository`, `the image's default`
    path: tuple[str | int, ...]  # the field that says it, in the container


def model_paths(container: dict) -> Iterator[ModelPath]:
    """The local directories a container loads its model from, as its env, args or image say."""
    told = False
    for j, var in enumerate(_list(container.get("env"))):
        if isinstance(var, dict) and var.get("name") in MODEL_ENV and isinstance(var.get("value"), str):
            told = True
            if var["value"].startswith("/"):
                yield ModelPath(var["value"], f"env {var['name']}", ("env", j, "value"))
    for field in ("command", "args"):
        words = [w if isinstance(w, str) else "" for w in _list(container.get(field))]
        for k, word in enumerate(words):
            flag, _, value = word.partition("=")
            if not MODEL_FLAGS.fullmatch(flag):
                continue
            at = k
            if not value and k + 1 < len(words):
                value, at = words[k + 1], k + 1
            told = True
            if value.startswith("/"):
                yield ModelPath(value, flag, (field, at))
    default = MODEL_IMAGES.get(image_repository(container.get("image")))
    if default and not told:
        yield ModelPath(default, "the image's default", ("image",))


def model_server_reason(container: dict, gpus: list[str]) -> str | None:
    """Why the container counts as a model server, or None."""
    if gpus:
        return f"its pod asks for a GPU ({', '.join(gpus)})"
    repository = image_repository(container.get("image"))
    if repository in MODEL_IMAGES:
        return f"its image {repository} is a known model server"
    env = [v.get("name") for v in _list(container.get("env")) if isinstance(v, dict)]
    told = next((name for name in env if name in MODEL_ENV), None)
    words = [w for w in _list(container.get("command")) + _list(container.get("args")) if isinstance(w, str)]
    told = told or next((w.partition("=")[0] for w in words if MODEL_FLAGS.fullmatch(w.partition("=")[0])), None)
    return f"it is told where to load a model from ({told})" if told else None


def mounted_from_volume(container: dict, volumes: list, directory: str) -> bool:
    """Whether a volume that outlives the pod (anything but emptyDir) is mounted at or above `directory`."""
    kinds = {v.get("name"): v for v in volumes if isinstance(v, dict)}
    for mount in _list(container.get("volumeMounts")):
        if not isinstance(mount, dict) or not isinstance(mount.get("mountPath"), str):
            continue
        base = mount["mountPath"].rstrip("/") or "/"
        if directory == base or directory.startswith(base.rstrip("/") + "/"):
            volume = kinds.get(mount.get("name"))
            if volume is None or "emptyDir" not in volume:
                return True
    return False


def _list(value: object) -> list:
    return value if isinstance(value, list) else []
