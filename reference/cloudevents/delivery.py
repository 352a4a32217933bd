"""Delivering one event to one destination as Knative's dispatcher does: retries with linear or
exponential backoff, a per-attempt timeout, Retry-After within retryAfterMax, then the dead-letter sink.

Retried: transport errors, 404, 408, 409, 429 and every 5xx; any other non-2xx is final (400 above all:
the event is unparsable and another try cannot help). Dead-lettered events keep their attributes and gain
`knativeerrordest`, `knativeerrorcode` (500 for a transport error) and `knativeerrordata` (the response
body, at most 1024 bytes, base64).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import aiohttp

from reference.apis.durations import parse_iso8601_duration
from reference.apis.eventing import CLUSTER_DOMAIN
from reference.cloudevents.codec import Event, MalformedEvent, from_http, to_binary, to_structured

log = logging.getLogger("kproof.eventing")

RETRIED_STATUSES = frozenset({404, 408, 409, 429})
RETRY_AFTER_STATUSES = frozenset({429, 503})
ERROR_DATA_LIMIT = 1024
TRANSPORT_ERROR_CODE = 500
DEFAULT_ATTEMPT_TIMEOUT = 600.0  # no delivery.timeout: still bounded, so nothing waits forever
CONNECTIONS_PER_DESTINATION = 16  # requests at once to one destination (KPROOF_DESTINATION_CONNECTIONS)
# The header Knative's dispatchers add to every delivery: the namespace of the Broker, Channel or source.
KN_NAMESPACE = "Kn-Namespace"


def retried(status: int | None) -> bool:
    """Whether a failed attempt is tried again (None: a transport error or timeout)."""
    return status is None or status >= 500 or status in RETRIED_STATUSES


def succeeded(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


@dataclass(frozen=True)
class DeliverySpec:
    retry: int = 0
    linear: bool = False
    delay: float = 0.0
    timeout: float | None = None
    # Retry-After is honoured only when the delivery-retryafter feature is on; then capped by this.
    honour_retry_after: bool = False
    retry_after_max: float | None = None
    dead_letter_uri: str | None = None
    # delivery.format: "json" sends structured mode, "binary" (or unset) binary mode.
    structured: bool = False

    @classmethod
    def parse(cls, delivery: dict | None, dead_letter_uri: str | None = None,
              honour_retry_after: bool = False) -> DeliverySpec:
        """From a (validated) delivery spec; the dead-letter sink comes resolved, from the status."""
        delivery = delivery or {}

        def seconds(key: str) -> float | None:
            try:
                return parse_iso8601_duration(delivery[key]) if delivery.get(key) else None
            except ValueError:
                return None

        if dead_letter_uri is None:
            dead_letter_uri = (delivery.get("deadLetterSink") or {}).get("uri") or None
        return cls(retry=max(0, int(delivery.get("retry") or 0)),
                   linear=delivery.get("backoffPolicy") == "linear",
                   delay=seconds("backoffDelay") or 0.0, timeout=seconds("timeout"),
                   honour_retry_after=honour_retry_after, retry_after_max=seconds("retryAfterMax"),
                   dead_letter_uri=dead_letter_uri, structured=delivery.get("format") == "json")

    def backoff(self, retry_number: int) -> float:
        """The wait before retry `retry_number` (1 for the first retry): delay * n (linear) or delay * 2**n."""
        return self.delay * retry_number if self.linear else self.delay * 2 ** retry_number

    def wait_before(self, retry_number: int, retry_after: float | None) -> float:
        wait = self.backoff(retry_number)
        if retry_after is not None and self.honour_retry_after:
            cap = self.retry_after_max if self.retry_after_max is not None else retry_after
            wait = max(wait, min(retry_after, cap))
        return wait


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None if absent or malformed."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class Attempt:
    status: int | None  # None: the request failed in transport or timed out
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""


@dataclass
class Outcome:
    status: int | None  # of the last attempt at the destination
    attempts: int
    delivered: bool
    dead_lettered: bool = False
    reply: Event | None = None


# Where a URL really goes: (URL to connect to, Host header or None).
Route = Callable[[str], tuple[str, str | None]]
Sleep = Callable[[float], Awaitable[None]]
# An in-process shortcut for some URLs: (url, headers, body) -> (status, headers, body), or None to go
# over HTTP.
Local = Callable[[str, dict[str, str], bytes], Awaitable[tuple[int, dict[str, str], bytes] | None]]


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def direct(url: str) -> tuple[str, str | None]:
    return url, None


def cluster_local(host: str) -> bool:
    return host.endswith("." + CLUSTER_DOMAIN) or host.endswith(".svc")


def ingress_route(ingress_url: str, routed: Callable[[str], bool] = cluster_local) -> Route:
    """A Route that sends plain-HTTP URLs whose host `routed` accepts through the ingress (which routes by
    Host), as a pod's HTTP_PROXY does; anything else (https, loopback, outside names) goes direct."""
    ingress = ingress_url.rstrip("/")

    def route(url: str) -> tuple[str, str | None]:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "http" or host in LOOPBACK or not routed(host):
            return url, None
        query = f"?{parts.query}" if parts.query else ""
        return f"{ingress}{parts.path or '/'}{query}", host

    return route


def with_error_extensions(event: Event, destination: str, attempt: Attempt) -> Event:
    attributes = dict(event.attributes)
    attributes["knativeerrordest"] = destination
    attributes["knativeerrorcode"] = str(attempt.status if attempt.status is not None else TRANSPORT_ERROR_CODE)
    if attempt.body:
        attributes["knativeerrordata"] = base64.b64encode(attempt.body[:ERROR_DATA_LIMIT]).decode()
    return replace(event, attributes=attributes)


def reply_of(attempt: Attempt) -> Event | None:
    """The event in a subscriber's response: a 2xx other than 202 carrying a CloudEvent."""
    carries_event = bool(attempt.body) or any(k.lower().startswith("ce-") for k in attempt.headers)
    if not succeeded(attempt.status) or attempt.status == 202 or not carries_event:
        return None
    try:
        return from_http(attempt.headers, attempt.body)
    except MalformedEvent:
        return None


class Dispatcher:
    """Sends events; at most `connections` requests at a time to one destination (scheme, host and port),
    over connections the session keeps and reuses, as Knative's dispatcher does: a burst of deliveries
    to a small sink waits its turn instead of flooding the sink's listen backlog with new connections.
    The bound holds for Services the data plane answers in process too (their replicas are the sink)."""

    def __init__(self, session: aiohttp.ClientSession, route: Route = direct, sleep: Sleep = asyncio.sleep,
                 local: Local | None = None, connections: int = CONNECTIONS_PER_DESTINATION) -> None:
        self.session = session
        self.route = route
        self.sleep = sleep
        self.local = local
        self.connections = connections
        self._pools: dict[str, asyncio.Semaphore] = {}

    def _pool(self, url: str) -> asyncio.Semaphore:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = asyncio.Semaphore(self.connections)
        return pool

    async def post(self, url: str, event: Event, timeout: float | None, prefer_reply: bool = False,
                   structured: bool = False, extra: Mapping[str, str] | None = None) -> Attempt:
        """One attempt: the event in binary (or structured) mode. The attempt's timeout starts once a
        connection to the destination is free (a delivery waiting its turn has not failed)."""
        headers, body = (to_structured if structured else to_binary)(event)
        headers.update(extra or {})
        if prefer_reply:
            headers["Prefer"] = "reply"
        return await self.request(url, headers, body, timeout)

    async def request(self, url: str, headers: dict[str, str], body: bytes, timeout: float | None) -> Attempt:
        """One POST of a body as it is (what a transformation sends on need not be a CloudEvent), under the
        same per-destination bound and per-attempt timeout as an event."""
        limit = timeout or DEFAULT_ATTEMPT_TIMEOUT
        try:
            async with self._pool(url):
                async with asyncio.timeout(limit):
                    return await self._exchange(url, headers, body)
        except TimeoutError:
            return Attempt(None, error=f"no response within {limit:g}s")
        except (aiohttp.ClientError, OSError, ValueError) as err:
            return Attempt(None, error=f"{type(err).__name__}: {err}")

    async def _exchange(self, url: str, headers: dict[str, str], body: bytes) -> Attempt:
        """In process where the data plane itself answers (a broker's ingress, a Service), else over HTTP."""
        answer = await self.local(url, headers, body) if self.local is not None else None
        if answer is not None:
            status, answer_headers, payload = answer
            return Attempt(status, payload, answer_headers)
        target, host = self.route(url)
        if host:
            headers["Host"] = host
        async with self.session.post(target, data=body, headers=headers, allow_redirects=False) as response:
            return Attempt(response.status, await response.read(), dict(response.headers))

    async def attempt_all(self, url: str, event: Event, spec: DeliverySpec, prefer_reply: bool = False,
                          extra: Mapping[str, str] | None = None) -> tuple[Attempt, int]:
        """Tries until success, a final status, or retries run out; the last attempt and the count."""
        attempt = Attempt(None)
        for number in range(spec.retry + 1):
            if number:
                wait = spec.wait_before(number, retry_after_seconds(attempt.headers.get("Retry-After"))
                                        if attempt.status in RETRY_AFTER_STATUSES else None)
                await self.sleep(wait)
            attempt = await self.post(url, event, spec.timeout, prefer_reply, spec.structured, extra)
            if succeeded(attempt.status) or not retried(attempt.status):
                return attempt, number + 1
        return attempt, spec.retry + 1

    async def deliver(self, event: Event, url: str, spec: DeliverySpec, prefer_reply: bool = True,
                      namespace: str | None = None, authorization: str | None = None,
                      dead_letter_authorization: str | None = None) -> Outcome:
        """To the subscriber, and on failure to the dead-letter sink (with the same retries). `namespace`,
        that of the Broker, Channel or source sending, goes in Kn-Namespace to both; `authorization` (the
        sender's token for the destination's audience, when sender identity is on) to the subscriber and
        `dead_letter_authorization` to the dead-letter sink."""
        extra = {KN_NAMESPACE: namespace} if namespace else {}
        attempt, count = await self.attempt_all(url, event, spec, prefer_reply,
                                                {**extra, "Authorization": authorization} if authorization else extra)
        if succeeded(attempt.status):
            return Outcome(attempt.status, count, True, reply=reply_of(attempt) if prefer_reply else None)
        log.info("delivery to %s failed after %d attempt(s): %s", url, count, attempt.status or attempt.error)
        if not spec.dead_letter_uri:
            return Outcome(attempt.status, count, False)
        dead = with_error_extensions(event, url, attempt)
        dls_extra = {**extra, "Authorization": dead_letter_authorization} if dead_letter_authorization else extra
        dls_attempt, _ = await self.attempt_all(spec.dead_letter_uri, dead, spec, extra=dls_extra)
        if not succeeded(dls_attempt.status):
            log.warning("the dead-letter sink %s refused an event: %s", spec.dead_letter_uri,
                        dls_attempt.status or dls_attempt.error)
        return Outcome(attempt.status, count, False, dead_lettered=succeeded(dls_attempt.status))
