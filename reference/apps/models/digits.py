"""Seed 003's two image classifiers, real models trained on scikit-learn's handwritten digits (1,797
images of 8x8 pixels that scikit-learn ships on disk: nothing is downloaded). The seed split its traffic
between ResNet and Google Vision; here two different small models take their places:

- `mlp`, a neural network (one hidden layer of 64 ReLU units), in ResNet's place;
- `linear`, a multinomial logistic regression, in Google Vision's.

Both train on the same three quarters of the images; the other quarter is held out, measured, and is
what seed 003's test uploads (`held_out`). A model directory holds digits/<kind>.npz (the weights as
arrays, no pickle) and digits/<kind>.json (what it is and its held-out accuracy). Inference is numpy
alone: any picture PIL reads, made gray, averaged down to 8x8 and scaled to the data set's 0-16.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("mlp", "linear")
HIDDEN = 64
HELD_OUT = 0.25
SEED = 0
SIDE = 8  # the data set's images are 8x8, each pixel 0 (white) to 16 (black)
SCALE = 4  # rendered images: each pixel a 4x4 square, 32x32 in all


def dataset() -> tuple[np.ndarray, np.ndarray]:
    """(images as (n, 8, 8) floats 0-16, labels) from scikit-learn's copy on disk."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float64), digits.target.astype(np.int64)


def split() -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: the same stratified split every time."""
    from sklearn.model_selection import train_test_split

    _, labels = dataset()
    indices = np.arange(len(labels))
    train, test = train_test_split(indices, test_size=HELD_OUT, random_state=SEED, stratify=labels)
    return np.sort(train), np.sort(test)


def render(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    """An 8x8 image of the data set as a picture file: gray, ink dark, each pixel a SCALE x SCALE square."""
    from PIL import Image

    gray = (255 - np.rint(np.clip(pixels, 0, 16) * 255 / 16)).astype(np.uint8)
    image = Image.fromarray(np.kron(gray, np.ones((SCALE, SCALE), dtype=np.uint8)), mode="L")
    out = io.BytesIO()
    image.save(out, format=image_format)
    return out.getvalue()


def features(picture: bytes) -> np.ndarray:
    """A picture file as the models' input: 64 values 0-1 (the data set's 0-16 over 16)."""
    from PIL import Image

    image = Image.open(io.BytesIO(picture)).convert("L").resize((SIDE, SIDE), Image.Resampling.BOX)
    ink = 255.0 - np.asarray(image, dtype=np.float64)
    return (ink * 16 / 255).reshape(-1) / 16


def held_out() -> list[tuple[int, int, np.ndarray]]:
    """(index in the data set, label, 8x8 pixels) of every held-out image."""
    images, labels = dataset()
    return [(int(i), int(labels[i]), images[i]) for i in split()[1]]


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass
class DigitsModel:
    """Pictures in, (digit, probability) out."""

    kind: str
    weights: dict[str, np.ndarray]
    about: dict
    name: str = ""

    def __post_init__(self) -> None:
        self.name = f"digits-{self.kind}"

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "mlp":
            hidden = np.maximum(x @ self.weights["w0"] + self.weights["b0"], 0)
            return _softmax(hidden @ self.weights["w1"] + self.weights["b1"])
        return _softmax(x @ self.weights["coef"].T + self.weights["intercept"])

    def predict(self, instances: list) -> list:
        x = np.stack([features(picture) for picture in instances])
        found = self.probabilities(x)
        classes = self.weights["classes"]
        return [(int(classes[i]), float(row[i])) for row, i in zip(found, found.argmax(axis=1), strict=True)]

    def describe(self) -> str:
        what = (f"a neural network ({HIDDEN} hidden ReLU units)" if self.kind == "mlp"
                else "a multinomial logistic regression")
        return (f"{what} over scikit-learn's 8x8 handwritten digits "
                f"(held-out accuracy {self.about.get('accuracy', 0):.3f})")

    @classmethod
    def load(cls, directory: Path, kind: str) -> DigitsModel:
        with np.load(directory / f"{kind}.npz") as stored:
            weights = {key: stored[key] for key in stored.files}
        return cls(kind, weights, json.loads((directory / f"{kind}.json").read_text()))


def _fit(kind: str, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        mlp = MLPClassifier(hidden_layer_sizes=(HIDDEN,), max_iter=1000, random_state=SEED).fit(x, y)
        return {"w0": mlp.coefs_[0], "b0": mlp.intercepts_[0], "w1": mlp.coefs_[1], "b1": mlp.intercepts_[1],
                "classes": mlp.classes_}
    from sklearn.linear_model import LogisticRegression

    linear = LogisticRegression(max_iter=5000).fit(x, y)
    return {"coef": linear.coef_, "intercept": linear.intercept_, "classes": linear.classes_}


def train(directory: Path) -> dict[str, dict]:
    """Trains both models, writes them into `directory` (digits/ of a model directory) and returns what
    each one's .json says."""
    images, labels = dataset()
    train_ix, test_ix = split()
    x = images.reshape(len(images), -1) / 16
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind in KINDS:
        weights = _fit(kind, x[train_ix], labels[train_ix])
        model = DigitsModel(kind, weights, {})
        predicted = weights["classes"][model.probabilities(x[test_ix]).argmax(axis=1)]
        about = {"model": model.name, "data": "sklearn.datasets.load_digits", "trained_on": len(train_ix),
                 "held_out": len(test_ix), "accuracy": round(float((predicted == labels[test_ix]).mean()), 4)}
        arrays: dict[str, Any] = dict(weights)  # numpy's stubs take **kwds for allow_pickle's place
        np.savez(directory / f"{kind}.npz", **arrays)
        (directory / f"{kind}.json").write_text(json.dumps(about, indent=1))
        out[kind] = about
    return out
