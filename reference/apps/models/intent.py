"""Seed 001's intent recognition: all-MiniLM-L6-v2 sentence embeddings and a linear classifier over the
seven SNIPS intents, trained on kproof's own utterances (fixtures/data/intents.csv).

A model directory holds `encoder/` (the sentence-transformers model), `classifier.npz` (classes, coef,
intercept) and `model.json` (what it is and how well it did on the held-out split).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INTENTS = ("AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook", "SearchCreativeWork",
           "SearchScreeningEvent")
ENCODER = "all-MiniLM-L6-v2"
UTTERANCES = Path(__file__).resolve().parents[3] / "fixtures" / "data" / "intents.csv"


@dataclass(frozen=True)
class Utterances:
    texts: list[str]
    intents: list[str]


def read_utterances(path: Path = UTTERANCES) -> tuple[Utterances, Utterances]:
    """(train, held-out) from a `text,intent,split` CSV."""
    train, test = Utterances([], []), Utterances([], [])
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            split = test if row["split"] == "test" else train
            split.texts.append(row["text"])
            split.intents.append(row["intent"])
    return train, test


def embed(encoder, texts: list[str]) -> np.ndarray:
    """Unit-length sentence embeddings, all texts in one call (one batch)."""
    return encoder.encode(texts, batch_size=max(1, len(texts)), convert_to_numpy=True, normalize_embeddings=True,
                          show_progress_bar=False)


class IntentModel:
    """Texts in, intents out; `encoder` is a SentenceTransformer."""

    name = "intent"

    def __init__(self, encoder, classes: np.ndarray, coef: np.ndarray, intercept: np.ndarray, about: dict) -> None:
        self.encoder = encoder
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self.about = about

    @classmethod
    def load(cls, directory: Path, device: str, encoder_dir: Path | None = None) -> IntentModel:
        from sentence_transformers import SentenceTransformer

        weights = np.load(directory / "classifier.npz")
        about = json.loads((directory / "model.json").read_text())
        encoder = SentenceTransformer(str(encoder_dir or directory / "encoder"), device=device, local_files_only=True)
        return cls(encoder, weights["classes"], weights["coef"], weights["intercept"], about)

    def predict(self, texts: list[str]) -> list[str]:
        scores = embed(self.encoder, texts) @ self.coef.T + self.intercept
        return [str(self.classes[i]) for i in scores.argmax(axis=1)]

    def describe(self) -> str:
        return (f"{ENCODER} + linear classifier over {len(self.classes)} intents "
                f"(held-out accuracy {self.about.get('accuracy', 0):.3f})")


def train(directory: Path, utterances: Path = UTTERANCES, encoder_dir: Path | None = None) -> dict:
    """Trains the classifier on the encoder in `encoder_dir` (default `directory/encoder`); returns
    model.json's content."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    encoder = SentenceTransformer(str(encoder_dir or directory / "encoder"), device="cpu", local_files_only=True)
    train_set, held_out = read_utterances(utterances)
    fitted = LogisticRegression(max_iter=2000, C=10.0).fit(embed(encoder, train_set.texts), train_set.intents)
    model = IntentModel(encoder, fitted.classes_, fitted.coef_, fitted.intercept_, {})
    predicted = model.predict(held_out.texts)
    accuracy = sum(p == t for p, t in zip(predicted, held_out.intents, strict=True)) / len(held_out.texts)
    np.savez(directory / "classifier.npz", classes=fitted.classes_, coef=fitted.coef_, intercept=fitted.intercept_)
    about = {"name": "intent", "encoder": ENCODER, "intents": [str(c) for c in fitted.classes_],
             "accuracy": round(accuracy, 4), "trained_on": len(train_set.texts), "held_out": len(held_out.texts)}
    (directory / "model.json").write_text(json.dumps(about, indent=2) + "\n")
    return about
