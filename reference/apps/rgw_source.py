"""Seed 003's event source (the seed's docker.io/rootfs/rgwpubsub-knative-source; kproof's
ghcr.io/kproof/rgw-source): Ceph RGW's object events, as CloudEvents, to the sink its ContainerSource
gives it (`--sink`, else $SINK or $K_SINK).

The seed's source pulled the events of an RGW pub/sub subscription (`--subscriptionname`) every few
seconds and acked each one it had posted. Ceph 16's pub/sub module stores no event, and Ceph 18 removed it
(reference.ceph.notifications says why), so this source is pushed them instead, by RGW's bucket
notifications: at start it listens on a port of its own, points the topic named by `--subscriptionname`
at itself and makes the notifications that name the topic again, so RGW sends it each event as the
object is stored. The flags and environment are the seed's:

    --subscriptionname NAME   the topic (the seed's subscription)          (required)
    --username NAME           the RGW user (logged; the S3 keys are its)
    --zonegroup NAME          the region the requests are signed for (default "default")
    --interval SECONDS        accepted; nothing is polled
    --sink URI                where events go (a ContainerSource sets it)
    S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_HOSTNAME (the gateway: http://host:port)
    PUSH_ENDPOINT             where RGW reaches this source (default: http://<the address this pod reaches
                              RGW from>:<its port>/), for a source behind a Service

Each event is posted in binary mode: type dev.knative.source.rgwpubsub, source rgwpubsub, id RGW's, data
the seed's RGWEvent (reference.apps.rgw_events). RGW's request is answered 200 once the sink took every
event in it, 502 otherwise; the log says which.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from reference.apps.rgw_events import EVENT_TYPE, SOURCE, fatal, from_record, go_quote, golog, s3_settings
from reference.ceph import notifications
from reference.cloudevents.codec import Event, to_binary

POST_ATTEMPTS = 3
RETRY_SECONDS = 2.0
STATE = web.AppKey("state", dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The seed's flags, in Go's spellings too (-flag, --flag, =value or a separate value)."""
    parser = argparse.ArgumentParser(prog="rgw-source")
    for name, default in (("subscriptionname", ""), ("username", ""), ("zonegroup", ""), ("sink", ""),
                          ("interval", "5")):
        parser.add_argument(f"--{name}", f"-{name}", default=default)
    return parser.parse_args(argv)


def own_address(endpoint: str) -> str:
    """The address this process reaches `endpoint` from (its pod's, as RGW sees it)."""
    parts = urlsplit(endpoint)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)))
        return str(probe.getsockname()[0])


def cloudevent(record: dict) -> Event:
    """The CloudEvent of one S3 record, as the seed's source builds it from a pub/sub event."""
    rgw_event = from_record(record)
    attributes = {"specversion": "1.0", "id": rgw_event["id"] or str(uuid.uuid4()), "type": EVENT_TYPE,
                  "source": SOURCE, "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                  "datacontenttype": "application/json"}
    return Event(attributes, json.dumps(rgw_event).encode())


async def post(session: aiohttp.ClientSession, sink: str, event: Event) -> bool:
    """Posts `event` to the sink (a few tries); True once it answered 2xx."""
    headers, body = to_binary(event)
    for attempt in range(POST_ATTEMPTS):
        golog(f"Posting to {go_quote(sink)}")
        try:
            async with session.post(sink, headers=headers, data=body) as answer:
                golog(f"Response Status: {answer.status} {answer.reason}")
                if answer.status < 300:
                    return True
        except (aiohttp.ClientError, TimeoutError) as err:
            golog(f"Failed to do POST: {err}")
        await asyncio.sleep(0.2 * 2 ** attempt)
    return False


async def pushed(request: web.Request) -> web.Response:
    """A notification from RGW: {"Records": [...]}, each posted to the sink."""
    state = request.app[STATE]
    try:
        records = json.loads(await request.read())["Records"]
        assert isinstance(records, list)
    except (ValueError, KeyError, TypeError, AssertionError):
        return web.Response(status=400, text="expected RGW's notification: {\"Records\": [...]}\n")
    failed = []
    for record in records:
        event = cloudevent(record)
        if await post(state["session"], state["sink"], event):
            golog(f"Event {event.id} was successfully posted to knative")
        else:
            failed.append(event.id)
            golog(f"Failed to post event {event.id}")
    return web.Response(status=502 if failed else 200)


async def point_topic(state: dict, push_endpoint: str) -> None:
    """Points the topic at this source, retrying until RGW answers."""
    s3, sns = notifications.clients(state["endpoint"], state["access_id"], state["access_key"], state["region"])
    said = ""
    while True:
        try:
            buckets = await asyncio.to_thread(notifications.point_at, s3, sns, state["topic"], push_endpoint)
        except Exception as err:  # boto3's errors have no common base worth naming: say it and try again
            if str(err) != said:
                golog(f"Failed to point topic {go_quote(state['topic'])} at {push_endpoint}: {err}; trying again every "
                      f"{RETRY_SECONDS:g}s")
                said = str(err)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        golog(f"Events will be pushed by rgw {state['endpoint']}: topic {go_quote(state['topic'])} -> {push_endpoint} "
              f"(notifications of bucket(s) {', '.join(buckets) or 'none yet'})")
        return


async def run(args: argparse.Namespace) -> None:
    access_id, access_key, endpoint = s3_settings()
    if not args.subscriptionname:
        fatal("No subscription name")
    sink = args.sink or os.environ.get("SINK") or os.environ.get("K_SINK", "")
    if not sink:
        fatal("No sink target")
    endpoint = notifications.endpoint_url(endpoint)
    golog(f"Target is: {go_quote(sink)}")
    async with aiohttp.ClientSession(trust_env=True) as session:  # cluster-local sinks through the ingress
        app = web.Application()
        app[STATE] = {"session": session, "sink": sink, "endpoint": endpoint, "access_id": access_id,
                      "access_key": access_key, "topic": args.subscriptionname,
                      "region": args.zonegroup or notifications.REGION}
        app.router.add_post("/{tail:.*}", pushed)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, os.environ.get("KPROOF_BIND", "127.0.0.1"), int(os.environ.get("PORT") or 0))
        await site.start()
        port = runner.addresses[0][1]
        push_endpoint = os.environ.get("PUSH_ENDPOINT") or f"http://{own_address(endpoint)}:{port}/"
        golog(f"Listening on port {port} for rgw user {args.username or '(unnamed)'}")
        await point_topic(app[STATE], push_endpoint)
        try:
            await asyncio.Event().wait()  # until SIGTERM
        finally:
            await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
