"""What the model servers share: waiting for their model, running it off the event loop (batched or
not), KServe's v1 protocol, and counting what they do.

Batching follows KServe's batcher and is off unless configured: BATCHER_MAX_BATCH_SIZE and
BATCHER_MAX_LATENCY (ms) in the environment, or KServe's pod annotations
(internal.serving.kserve.io/batcher-max-batchsize, -max-latency), which the image catalog turns into them.

    GET  /v1/models                      {"models": [name]}
    GET  /v1/models/<name>               {"name": name, "ready": true}
    POST /v1/models/<name>:predict       {"instances": [...]} -> {"predictions": [...], "batchId": ...}
    GET  /stats                          requests, instances, concurrency seen, batches, device
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web

from reference.apps.models.batcher import MAX_BATCH_SIZE, MAX_LATENCY_MS, Batcher
from reference.apps.models.loader import Loaded, ModelMissing, load
from reference.apps.server import log

RETRY_SECONDS = 5.0


def wait_for_model(name: str) -> Loaded:
    """Loads the model before the server binds its port (so the replica is not ready without it);
    while it is missing, says why once and looks again every few seconds."""
    said = ""
    while True:
        try:
            loaded = load(name)
        except ModelMissing as err:
            if str(err) != said:
                log(name, f"not ready: {err}; looking again every {RETRY_SECONDS:g}s")
                said = str(err)
            time.sleep(RETRY_SECONDS)
            continue
        log(name, loaded.summary())
        return loaded


def batching_from_env() -> tuple[int, float] | None:
    """(maxBatchSize, maxLatency ms) when batching is configured."""
    size, latency = os.environ.get("BATCHER_MAX_BATCH_SIZE"), os.environ.get("BATCHER_MAX_LATENCY")
    if not size and not latency and os.environ.get("BATCHER", "") != "BatcherEnabled":
        return None
    return int(size or MAX_BATCH_SIZE), float(latency or MAX_LATENCY_MS)


@dataclass
class Stats:
    requests: int = 0
    instances: int = 0
    inflight: int = 0
    max_concurrency: int = 0
    outputs: Counter = field(default_factory=Counter)


class ModelServer:
    def __init__(self, loaded: Loaded, batching: tuple[int, float] | None = None) -> None:
        self.loaded = loaded
        self.stats = Stats()
        self.more_stats: Callable[[], dict] = dict  # what an app adds to GET /stats
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.batcher = Batcher(self._run, *batching) if batching else None
        if batching:
            log(loaded.model.name, f"batching: maxBatchSize {batching[0]}, maxLatency {batching[1]:g} ms")

    async def _run(self, instances: list) -> list:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.loaded.model.predict, instances)

    async def predict(self, instances: list) -> tuple[list, str | None]:
        """Predictions for `instances` (one model call, or a share of a batch) and the batch's id."""
        stats = self.stats
        stats.requests += 1
        stats.instances += len(instances)
        stats.inflight += 1
        stats.max_concurrency = max(stats.max_concurrency, stats.inflight)
        try:
            if self.batcher is not None:
                predictions, batch_id = await self.batcher.submit(instances)
            else:
                predictions, batch_id = await self._run(instances), None
        finally:
            stats.inflight -= 1
        for prediction in predictions:
            if isinstance(prediction, str):
                stats.outputs[prediction] += 1
        return predictions, batch_id

    # KServe v1 ---------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        name = self.loaded.model.name

        async def models(_: web.Request) -> web.Response:
            return web.json_response({"models": [name]})

        async def model(_: web.Request) -> web.Response:
            return web.json_response({"name": name, "ready": True})

        app.router.add_get("/v1/models", models)
        app.router.add_get(f"/v1/models/{name}", model)
        app.router.add_post(f"/v1/models/{name}:predict", self.v1_predict)
        app.router.add_get("/stats", self.report)

    async def v1_predict(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="the body is not JSON\n") from None
        instances = body.get("instances") if isinstance(body, dict) else None
        if not isinstance(instances, list) or not instances:
            raise web.HTTPBadRequest(text='expected {"instances": [...]} with at least one instance\n')
        if not all(isinstance(i, str) for i in instances):
            raise web.HTTPBadRequest(text="every instance must be a string (a text to classify)\n")
        predictions, batch_id = await self.predict(instances)
        answer: dict = {"predictions": predictions}
        if batch_id is not None:
            answer["batchId"] = batch_id
        return web.json_response(answer)

    async def report(self, request: web.Request) -> web.Response:
        stats = self.stats
        return web.json_response({
            "pod": os.environ.get("HOSTNAME", ""), "model": self.loaded.model.name, "device": self.loaded.device,
            "load_seconds": self.loaded.seconds,
            "requests": stats.requests, "instances": stats.instances, "inflight": stats.inflight,
            "max_concurrency": stats.max_concurrency, "batches": self.batcher.batches if self.batcher else None,
            "outputs": dict(stats.outputs), **self.more_stats()})
