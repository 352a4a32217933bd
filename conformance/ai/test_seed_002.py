"""Seed 002's sentiment service (benthos-vader), applied as the demo applies it: it answers with the
four VADER scores, equal to what vaderSentiment computes."""

from __future__ import annotations

import shutil

import pytest
import yaml
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from conformance.ai.support import KSVC, fixture
from conformance.api.test_kubectl import kubectl
from kproof.target import Target

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.mark.spec("SHOULD", "stable", source="seed 002 (Knative autoscaling with Benthos, pull-based): the "
                  "benthos-vader sentiment Service answers POST /post with VADER's scores")
@pytest.mark.quick
def test_benthos_vader_scores_as_vader_does(target: Target, namespace: str) -> None:
    kubectl(target, "apply", "-f", "-", stdin=yaml.safe_dump_all(fixture("seed-002/benthos-vader.yaml", namespace)))
    target.wait_for(*KSVC, "benthos-vader", namespace, timeout=120)
    assert target.http("benthos-vader", "/ping", namespace=namespace).text == "pong"
    for text in ("I love Benthos!", "The flight was delayed for hours and the crew was rude."):
        answer = target.http("benthos-vader", "/post", method="POST", namespace=namespace, json={"text": text})
        assert answer.status_code == 200, answer.text
        expected = SentimentIntensityAnalyzer().polarity_scores(text)
        assert answer.json() == {"Negative": expected["neg"], "Neutral": expected["neu"],
                                 "Positive": expected["pos"], "Compound": expected["compound"]}
    assert answer.json()["Compound"] < 0 < target.http("benthos-vader", "/post", method="POST", namespace=namespace,
                                                       json={"text": "I love Benthos!"}).json()["Compound"]
    pa = target.get("autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler", "benthos-vader-00001", namespace)
    assert pa["metadata"]["annotations"]["autoscaling.knative.dev/metric"] == "rps"
