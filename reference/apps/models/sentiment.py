"""Seed 002's sentiment: VADER (the `vaderSentiment` package and its lexicon), with benthos-vader's
capitalised keys."""

from __future__ import annotations

KEYS = {"neg": "Negative", "neu": "Neutral", "pos": "Positive", "compound": "Compound"}


class SentimentModel:
    name = "sentiment"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()

    def predict(self, texts: list[str]) -> list[dict[str, float]]:
        return [{KEYS[k]: v for k, v in self.analyzer.polarity_scores(text).items()} for text in texts]

    def describe(self) -> str:
        return "VADER (vaderSentiment's lexicon and rules)"
