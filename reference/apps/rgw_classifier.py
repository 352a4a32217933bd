"""Seed 003's classifying functions (the seed's ResNet and Google Vision images; kproof's
ghcr.io/kproof/rgw-classifier): for each RGW event, download the object from the gateway (S3 API) and
log its class, as the seed's functions do.

The model is one of seed 003's digit classifiers (reference.apps.models.digits), chosen by DIGITS_MODEL and
read from MODEL_DIR: `mlp` in ResNet's place logs ResNet's line, `linear` in Google Vision's logs
Vision's.

    2018/12/03 15:24:10 [2018-12-03T15:24:10Z] application/json rgwpubsub. Object: "digit-007.png"  Bucket: "buck"
    2018/12/03 15:24:11 classes: [7]                       (mlp)
    2018/12/03 15:24:11 label: 7, Score: 0.993347          (linear)

S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and S3_HOSTNAME name the gateway and the user, as in the seed; the
seed's RESNET_SERVING_ENDPOINT and GOOGLE_VISION_API_KEY are read by nobody (the model runs here). An
event whose object cannot be downloaded or read is logged and answered 502; one that is not an RGW event,
400. Events are classified one at a time, so each object's two lines are adjacent in the log.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import web

from reference.apps.model_server import wait_for_model
from reference.apps.models.loader import Loaded
from reference.apps.rgw_events import golog, read_object_event, received, s3_settings
from reference.apps.server import serve
from reference.ceph import notifications
from reference.cloudevents.codec import Event

NAME = "rgw-classifier"
MODEL_ENV = "DIGITS_MODEL"
STATE = web.AppKey("state", dict)


def outcome(kind: str, digit: int, score: float) -> str:
    """The line each seed function logs for its answer: ResNet's classes, or Vision's label and score."""
    return f"classes: [{digit}]" if kind == "mlp" else f"label: {digit}, Score: {score:f}"


async def handle(request: web.Request) -> web.Response:
    state = request.app[STATE]
    event, bucket, key = await read_object_event(request)
    async with state["one_at_a_time"]:
        return await classify(state, event, bucket, key)


async def classify(state: dict, event: Event, bucket: str, key: str) -> web.Response:
    golog(received(event, bucket, key))
    try:
        picture = await asyncio.to_thread(lambda: state["s3"].get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as err:  # botocore's errors share no base worth naming
        golog(f"failed to download {bucket} {key}: {err}")
        return web.Response(status=502, text=f"failed to download {bucket}/{key}\n")
    loaded: Loaded = state["loaded"]
    try:
        ((digit, score),) = await asyncio.to_thread(loaded.model.predict, [picture])
    except (OSError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
        golog(f"failed to classify {bucket} {key}: {err}")
        return web.Response(status=502, text=f"{bucket}/{key} is not a picture\n")
    golog(outcome(state["kind"], digit, score))
    return web.Response(status=200)


def app(loaded: Loaded, kind: str, s3: Any) -> web.Application:
    application = web.Application()
    # one event at a time, so that each object's two lines are adjacent in the log, as in the seed's
    application[STATE] = {"loaded": loaded, "kind": kind, "s3": s3, "one_at_a_time": asyncio.Lock()}
    application.router.add_route("*", "/{tail:.*}", handle)
    return application


def main() -> None:
    access_id, access_key, endpoint = s3_settings()
    kind = os.environ.get(MODEL_ENV, "mlp")
    loaded = wait_for_model(f"digits-{kind}")
    s3, _ = notifications.clients(notifications.endpoint_url(endpoint), access_id, access_key)
    golog(f"Ready and listening on port {os.environ.get('PORT', '8080')}")
    serve(app(loaded, kind, s3), NAME)


if __name__ == "__main__":
    main()
