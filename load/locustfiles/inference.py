"""Inference: steady users (-u, --run-time) ask the intent service about utterances of kproof's held-out
split (fixtures/data/intents.csv), each as GET /predict?query=...; an answer that is not one of the seven
intents counts as a failure. `--host` is the ingress, `--service-host` the Service's host (for example
test-ai-process.default.example.com). `locust -f load/locustfiles/inference.py`
"""

from __future__ import annotations

import random
from urllib.parse import quote

from locust import FastHttpUser, constant, task

from load.locustfiles.common import option
from reference.apps.models.intent import INTENTS, read_utterances

_, HELD_OUT = read_utterances()


class InferenceUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.service_host = option(self.environment, "service_host")

    @task
    def classify(self) -> None:
        text = random.choice(HELD_OUT.texts)
        headers = {"Host": self.service_host} if self.service_host else {}
        with self.client.get(f"/predict?query={quote(text)}", headers=headers, name="/predict",
                             catch_response=True) as response:
            if response.status_code == 200 and response.text not in INTENTS:
                response.failure(f"not an intent: {response.text[:80]!r}")
