"""RequestReply's data plane (Knative's pkg/requestreply): an HTTP request with a CloudEvent, POSTed to
`/<namespace>/<name>`, goes into the RequestReply's Broker with a signed correlation id; the request waits
until an event whose reply attribute carries that id comes back to `/<namespace>/<name>/reply` (through the
RequestReply's Trigger), and answers with it.

As Knative's handler does: 405 for another method, 400 for a malformed path or event, 404 for an unknown
RequestReply, 500 when it has no key or Broker address yet or the Broker refuses the event; a reply with no
reply attribute, or one not sealed under the RequestReply's keys, is refused with 400 and a good one
accepted with 202. A request that gets no reply in time is answered 200 with no body, which is what
Knative's handler sends when it gives up (it writes nothing). Knative waits a fixed minute; this waits
spec.timeout, as the CRD describes it.

The Trigger's filter calls the CESQL function Knative registers for it, KN_VERIFY_CORRELATION_ID, which this
plane provides: the keys live in the `request-reply-keys` Secret of knative-eventing, which it watches.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import replace

from aiohttp import web

from reference.apis.durations import parse_iso8601_duration
from reference.cloudevents.cesql.functions import NO_ERRORS, Errors, Function
from reference.cloudevents.cesql.values import Type, Value
from reference.cloudevents.codec import Event, to_binary
from reference.cloudevents.delivery import Dispatcher, succeeded
from reference.cloudevents.receiver import ALLOW, receive
from reference.dataplane.eventing import correlation

log = logging.getLogger("kproof.eventing")

KEYS_SECRET = "request-reply-keys"
BROKER_ADDRESS = "knative.dev/brokerAddress"
VERIFY_FUNCTION = "KN_VERIFY_CORRELATION_ID"
DEFAULT_TIMEOUT = 30.0

Key = tuple[str, str]  # (namespace, name)


class KeyStore:
    """The AES keys of every RequestReply, from the Secret's `<namespace>.<name>.<key>` entries."""

    def __init__(self) -> None:
        self._keys: dict[Key, dict[str, bytes]] = {}
        self._latest: dict[Key, bytes] = {}

    def load(self, data: dict[str, str]) -> None:
        keys: dict[Key, dict[str, bytes]] = {}
        for entry, encoded in sorted(data.items()):
            parts = entry.split(".")
            if len(parts) != 3:
                continue
            try:
                keys.setdefault((parts[0], parts[1]), {})[parts[2]] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                log.warning("request-reply key %s is not base64", entry)
        for key, named in keys.items():
            if key not in self._latest or self._latest[key] not in named.values():
                self._latest[key] = named[max(named)]  # the newest: key-0, key-1, ... as the reconciler names them
        self._latest = {k: v for k, v in self._latest.items() if k in keys}
        self._keys = keys

    def latest(self, key: Key) -> bytes | None:
        return self._latest.get(key)

    def all(self, key: Key) -> list[bytes]:
        return list(self._keys.get(key, {}).values())


class RequestReplyPlane:
    def __init__(self, dispatcher: Dispatcher, replica: int = 0) -> None:
        self.dispatcher = dispatcher
        self.replica = replica
        self.keys = KeyStore()
        self.objects: dict[Key, dict] = {}
        self.pending: dict[Key, dict[str, asyncio.Future[Event]]] = {}

    # Informer handlers -------------------------------------------------------------------------------

    def set_request_reply(self, kind: str, obj: dict, old: dict | None) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj

    def set_secret(self, kind: str, secret: dict, old: dict | None) -> None:
        if secret["metadata"]["name"] == KEYS_SECRET:
            self.keys.load({} if kind == "DELETED" else secret.get("data") or {})

    def serves(self, namespace: str, name: str) -> bool:
        """Known, with a key and its Broker's address: requests to it can be answered."""
        obj = self.objects.get((namespace, name))
        return (obj is not None and self.keys.latest((namespace, name)) is not None
                and bool(_annotations(obj).get(BROKER_ADDRESS)))

    # The Trigger's filter --------------------------------------------------------------------------

    def verify_function(self) -> Function:
        """KN_VERIFY_CORRELATION_ID(reply id, name, namespace, secret, replica index, replica count)."""
        def verify(reply_id: str, name: str, namespace: str, secret: str, index: int, count: int
                   ) -> tuple[Value, Errors]:
            found = correlation.index_of(reply_id)
            if found is None or count <= 0 or found % count != index or secret != KEYS_SECRET:
                return False, NO_ERRORS
            return correlation.verify_any(reply_id, self.keys.all((namespace, name))), NO_ERRORS

        s, i = Type.STRING, Type.INTEGER
        return Function(VERIFY_FUNCTION, (s, s, s, s, i, i), Type.BOOLEAN, verify)

    # HTTP --------------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        response = await self._handle(request)
        response.headers["Allow"] = ALLOW
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method == "POST" and request.path == "/":
            return web.Response(status=404)
        parts = request.path.removesuffix("/").split("/")
        if request.method == "POST" and not 3 <= len(parts) <= 4:
            return web.Response(status=400, text=f"malformed path {request.path}\n")
        event = await receive(request)
        if isinstance(event, web.Response):
            return event
        key = (parts[1], parts[2])
        obj = self.objects.get(key)
        if obj is None:
            return web.Response(status=404, text=f"no RequestReply {key[0]}/{key[1]}\n")
        if len(parts) == 4 and parts[3] == "reply":
            return self._reply(key, obj, event)
        return await self._request(key, obj, event)

    def _reply(self, key: Key, obj: dict, event: Event) -> web.Response:
        keys = self.keys.all(key)
        if not keys:
            return web.Response(status=500, text="no keys for this RequestReply yet\n")
        reply_id = event.attributes.get(_spec(obj).get("replyAttribute") or "replyid")
        if reply_id is None:
            return web.Response(status=400, text="no reply id set on the event\n")
        if not correlation.verify_any(reply_id, keys):
            return web.Response(status=400, text="the reply id is not one this RequestReply issued\n")
        waiting = self.pending.get(key, {}).get(reply_id.split(":")[0])
        if waiting is not None and not waiting.done():
            waiting.set_result(event)
        return web.Response(status=202)

    async def _request(self, key: Key, obj: dict, event: Event) -> web.Response:
        broker = _annotations(obj).get(BROKER_ADDRESS)
        if not broker:
            return web.Response(status=500, text="the RequestReply has no Broker address yet\n")
        secret = self.keys.latest(key)
        if secret is None:
            return web.Response(status=500, text="no key for this RequestReply yet\n")
        attribute = _spec(obj).get("correlationAttribute") or "correlationid"
        outgoing = replace(event, attributes={
            **event.attributes, attribute: correlation.correlation_id(event.id, secret, self.replica)})
        waiting: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self.pending.setdefault(key, {})[event.id] = waiting
        try:
            sent = await self.dispatcher.post(broker, outgoing, None)
            if not succeeded(sent.status):
                log.warning("RequestReply %s/%s: the broker refused an event: %s", *key, sent.status or sent.error)
                return web.Response(status=500)
            try:
                answer = await asyncio.wait_for(waiting, timeout_seconds(obj))
            except TimeoutError:
                log.info("RequestReply %s/%s: no reply to %s in time", *key, event.id)
                return web.Response(status=200)
            headers, body = to_binary(answer)
            return web.Response(status=200, headers=headers, body=body)
        finally:
            if self.pending.get(key, {}).get(event.id) is waiting:
                del self.pending[key][event.id]

    async def close(self) -> None:
        for waiting in (f for entries in self.pending.values() for f in entries.values()):
            waiting.cancel()


def _spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def _annotations(obj: dict) -> dict[str, str]:
    return (obj.get("status") or {}).get("annotations") or {}


def timeout_seconds(obj: dict) -> float:
    """spec.timeout (ISO-8601), validated at admission; 30 s when it cannot be read."""
    try:
        return parse_iso8601_duration(_spec(obj).get("timeout") or "") or DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT
