"""Dynamic batching with KServe's semantics in the intent model server: concurrent requests to one
replica form one model call, and each caller gets its own answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance.ai.support import claims_allowed, intent_service
from conformance.helpers import log
from conformance.serving.support import deploy
from kproof.target import Target

UTTERANCES = ["play some music by queen", "book a table at a sushi bar for three", "will it rain in lisbon",
              "add this song to my running playlist", "rate the hobbit five stars", "find the game halo",
              "what movies are playing at the odeon tonight", "play jazz radio"]
EXPECTED = ["PlayMusic", "BookRestaurant", "GetWeather", "AddToPlaylist", "RateBook", "SearchCreativeWork",
            "SearchScreeningEvent", "PlayMusic"]


@pytest.mark.spec("SHOULD", "beta", source="KServe docs, model serving batcher (v1beta1 `batcher: maxBatchSize, "
                  "maxLatency`): concurrent requests are batched into one model call, each caller gets its own "
                  "answer")
@pytest.mark.timing
def test_concurrent_requests_share_a_model_call(target: Target, in_models_namespace: str, app_image,
                                                capsys: pytest.CaptureFixture) -> None:
    namespace = in_models_namespace
    # One replica taking all eight at once; KServe's batcher settings, as environment variables.
    with claims_allowed(target):
        deploy(target, intent_service("batched", namespace, app_image("intent"), cc=0, gpu=False,
                                      env={"BATCHER_MAX_BATCH_SIZE": "8", "BATCHER_MAX_LATENCY": "500"},
                                      annotations={"autoscaling.knative.dev/max-scale": "1"}), timeout=240)

    def ask(text: str) -> dict:
        answer = target.http("batched", "/v1/models/intent:predict", method="POST", namespace=namespace,
                             json={"instances": [text]})
        assert answer.status_code == 200, answer.text
        return answer.json()

    with ThreadPoolExecutor(len(UTTERANCES)) as pool:
        answers = list(pool.map(ask, UTTERANCES))
    assert [a["predictions"][0] for a in answers] == EXPECTED
    batches = {a["batchId"] for a in answers}
    stats = target.http("batched", "/stats", namespace=namespace).json()
    log(capsys, f"batching: {len(UTTERANCES)} concurrent requests ran in {len(batches)} model call(s)")
    assert len(batches) < len(UTTERANCES) and stats["batches"] == len(batches)
