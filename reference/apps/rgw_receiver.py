"""Seed 003's receiver function (the seed's docker.io/rootfs/rgwpubsub-knative-receiver; kproof's
ghcr.io/kproof/rgw-receiver): logs each RGW event it is sent, as the seed's does,

    2018/12/03 15:24:10 [2018-12-03T15:24:10Z] application/json rgwpubsub. Object: "cat-7.jpg"  Bucket: "buck"

and answers 200; a request that is not a CloudEvent carrying an RGW event gets 400.
"""

from __future__ import annotations

import os

from aiohttp import web

from reference.apps.rgw_events import golog, read_object_event, received
from reference.apps.server import serve

NAME = "rgw-receiver"


async def handle(request: web.Request) -> web.Response:
    event, bucket, key = await read_object_event(request)
    golog(received(event, bucket, key))
    return web.Response(status=200)


def app() -> web.Application:
    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", handle)
    return application


if __name__ == "__main__":
    golog(f"Ready and listening on port {os.environ.get('PORT', '8080')}")
    serve(app(), NAME)
