"""PingSource: a fixed CloudEvent on a cron schedule, as Knative's pingsource-mt-adapter sends it.

The schedule is robfig/cron's standard form (5 fields or an @descriptor; @every is refused), read in
spec.timezone or a `CRON_TZ=`/`TZ=` prefix, UTC otherwise. A wall-clock time that a DST change skips does
not fire that day and one that repeats fires twice, as in robfig/cron. Each tick sends one event in binary
mode: type dev.knative.sources.ping, source /apis/v1/namespaces/<ns>/pingsources/<name>, a fresh UUID id,
the tick as time, spec.data (or the decoded dataBase64) with spec.contentType, and the ceOverrides
extensions; after a random delay below 500 ms, with 5 retries backing off exponentially from 50 ms.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from croniter import CroniterBadDateError, croniter

from reference.apis import conditions
from reference.auth.provider import TokenProvider
from reference.cloudevents.codec import Event
from reference.cloudevents.delivery import DeliverySpec, Dispatcher, Route, direct
from reference.eventing import identity
from reference.eventing.resolver import Unresolvable, destination_watches, resolve, resolve_audience
from reference.reconciler.controller import Controller, Key, Watch, own_key

log = logging.getLogger("kproof.sources")

EVENT_TYPE = "dev.knative.sources.ping"
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
               "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
SEND_SPEC = DeliverySpec(retry=5, delay=0.05)  # Knative: ContextWithRetriesExponentialBackoff(50ms, 5)
MAX_JITTER = 0.5  # Knative spreads the sources that share a tick over half a second
UNRESOLVED_RETRY = 2.0
MAX_SKIPPED = 8  # ticks in a row a DST gap can swallow (more means a bug, not a schedule)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def event_source(namespace: str, name: str) -> str:
    return f"/apis/v1/namespaces/{namespace}/pingsources/{name}"


def parse_schedule(schedule: str, timezone: str | None = None) -> tuple[str, ZoneInfo]:
    """The 5 cron fields and the zone they are read in; ValueError for what Knative refuses."""
    text, zone = schedule.strip(), None
    if text.startswith(("CRON_TZ=", "TZ=")):
        prefix, _, text = text.partition(" ")
        zone, text = prefix.split("=", 1)[1], text.strip()
    if timezone:
        if zone:  # Knative prepends CRON_TZ=<timezone>, and robfig/cron then reads the second prefix as a field
            raise ValueError(f"the schedule names a time zone ({zone}) and so does spec.timezone ({timezone})")
        zone = timezone
    if text.startswith("@every"):
        raise ValueError("unsupported descriptor @every")
    if text.startswith("@"):
        if text not in DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor: {text}")
        text = DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: [{text}]")
    try:
        location = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"provided bad location {zone}: unknown time zone {zone}") from err
    expression = " ".join(fields)
    if not croniter.is_valid(expression):
        raise ValueError(f"invalid schedule: {expression}")
    return expression, location


def _on_the_clock(expanded: list[list], at: datetime) -> bool:
    """Whether `at` is a minute and hour the schedule names (croniter moves a time a DST gap swallows to the
    next hour; robfig/cron skips it)."""
    minutes, hours = expanded[0], expanded[1]
    return (minutes == ["*"] or at.minute in minutes) and (hours == ["*"] or at.hour in hours)


def next_fire(schedule: str, timezone: str | None, after: datetime) -> datetime:
    """The first time strictly after `after` (an aware datetime) that the schedule fires, in UTC (an
    ambiguous local time never compares equal across zones). ValueError for a malformed schedule or one
    that never fires (30 February)."""
    expression, zone = parse_schedule(schedule, timezone)
    times = croniter(expression, after.astimezone(zone))
    for _ in range(MAX_SKIPPED):
        try:
            candidate = times.get_next(datetime)
        except CroniterBadDateError as err:
            raise ValueError(f"the schedule {expression} never fires") from err
        if _on_the_clock(times.expanded, candidate):
            return candidate.astimezone(UTC)
    raise ValueError(f"the schedule {expression} fires at no time that exists in {zone.key}")


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ping_event(source: dict, tick: datetime, event_id: str | None = None) -> Event:
    """The event a PingSource sends at `tick`."""
    meta, spec = source["metadata"], source.get("spec") or {}
    extensions = (spec.get("ceOverrides") or {}).get("extensions") or {}
    attributes = {**{k: str(v) for k, v in extensions.items()}, "specversion": "1.0",
                  "id": event_id or str(uuid.uuid4()), "source": event_source(meta.get("namespace", ""), meta["name"]),
                  "type": EVENT_TYPE, "time": rfc3339(tick)}
    data: bytes | None = None
    if spec.get("dataBase64"):
        data = base64.b64decode(spec["dataBase64"])
    elif spec.get("data"):
        data = spec["data"].encode()
    if data is not None and spec.get("contentType"):  # like sdk-go's SetData: no data, no content type
        attributes["datacontenttype"] = spec["contentType"]
    return Event(attributes, data)


@dataclass
class Schedule:
    """A source's running schedule and the sends it started; replaced when what it was started for changes."""

    identity: tuple  # (uid, generation, sink URI, the sender identity: ServiceAccount and audience)
    task: asyncio.Task
    sends: set[asyncio.Task] = field(default_factory=set)

    def stop(self) -> None:
        self.task.cancel()
        for send in self.sends:
            send.cancel()


class PingSourceReconciler(Controller):
    name = "pingsource-controller"

    def __init__(self, registry, route: Route = direct, clock: Clock = utcnow, sleep: Sleep = asyncio.sleep,
                 jitter: Callable[[], float] = lambda: random.uniform(0, MAX_JITTER),
                 tokens: TokenProvider | None = None) -> None:
        super().__init__(registry)
        self.tokens = tokens  # sender identity: the source's token for its sink's audience
        self.kind = registry.kinds.require("sources.knative.dev", "v1", "pingsources")
        self.route = route  # cluster-local sinks are reached through the ingress
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
        self.schedules: dict[Key, Schedule] = {}
        self._session: aiohttp.ClientSession | None = None

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), *destination_watches(self.registry, self.kind),
                *identity.identity_watches(self.registry, self.kind)]

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stops every schedule and the sends in flight."""
        tasks = [t for s in self.schedules.values() for t in (s.task, *s.sends)]
        for key in list(self.schedules):
            self._stop(key)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _dispatcher(self) -> Dispatcher:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return Dispatcher(self._session, self.route, self.sleep)

    def _stop(self, key: Key) -> None:
        schedule = self.schedules.pop(key, None)
        if schedule is not None:
            schedule.stop()

    def _ensure(self, key: Key, source: dict, sink: str, sender: tuple[str | None, str | None] = (None, None)
                ) -> None:
        meta = source["metadata"]
        wanted = (meta.get("uid", ""), int(meta.get("generation") or 0), sink, sender)
        current = self.schedules.get(key)
        if current is not None and current.identity == wanted and not current.task.done():
            return
        self._stop(key)
        sends: set[asyncio.Task] = set()
        task = asyncio.create_task(self._fire(source, sink, sends, sender), name=f"pingsource {key[0]}/{key[1]}")
        self.schedules[key] = Schedule(wanted, task, sends)

    async def _fire(self, source: dict, sink: str, sends: set[asyncio.Task],
                    sender: tuple[str | None, str | None] = (None, None)) -> None:
        spec = source.get("spec") or {}
        last = self.clock()
        while True:
            try:
                tick = next_fire(spec.get("schedule", ""), spec.get("timezone"), last)
            except ValueError as err:  # it never fires (robfig/cron accepts such a schedule, and so does Knative)
                log.warning("pingsource %s/%s: %s", source["metadata"].get("namespace"), source["metadata"]["name"],
                            err)
                await asyncio.Future()  # idle until replaced, so that no resync starts it again
            while (left := (tick - self.clock()).total_seconds()) > 0:
                await self.sleep(left)
            # A send (with its retries) never holds up the next tick; after a pause, missed ticks are dropped.
            send = asyncio.create_task(self._send(ping_event(source, tick), sink,
                                                  source["metadata"].get("namespace", ""), sender))
            sends.add(send)
            send.add_done_callback(sends.discard)
            last = max(tick, self.clock())

    async def _send(self, event: Event, sink: str, namespace: str,
                    sender: tuple[str | None, str | None] = (None, None)) -> None:
        await self.sleep(self.jitter())
        authorization = await identity.sender_authorization(self.tokens, namespace, *sender)
        outcome = await self._dispatcher().deliver(event, sink, SEND_SPEC, prefer_reply=False,
                                                   namespace=namespace, authorization=authorization)
        if not outcome.delivered:
            log.warning("pingsource event %s to %s lost after %d attempt(s): %s", event.id, sink, outcome.attempts,
                        outcome.status)

    async def reconcile(self, key: Key) -> float | None:
        source = self.get(self.kind, *key)
        if source is None or source["metadata"].get("deletionTimestamp"):
            self._stop(key)
            return None
        spec = source.get("spec") or {}
        previous = source.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "sinkUri", "sinkAudience", "auth")}
        status["observedGeneration"] = source["metadata"].get("generation")
        status["ceAttributes"] = [{"type": EVENT_TYPE, "source": event_source(*key)}]
        flags = identity.features(self.registry)
        account, oidc = identity.ensure_identity(self, source, "sources.knative.dev", "PingSource", flags)
        if account:
            status["auth"] = {"serviceAccountName": account}
        sink: str | None = None
        audience: str | None = None
        try:
            sink = resolve(spec.get("sink"), key[0], self.registry.store, self.registry.kinds)
            status["sinkUri"] = sink
            audience = resolve_audience(spec.get("sink"), key[0], self.registry.store, self.registry.kinds)
            if audience:
                status["sinkAudience"] = audience
            provided = conditions.condition("SinkProvided", True)
        except Unresolvable as err:
            provided = conditions.condition("SinkProvided", False, "NotFound", str(err))
        try:
            parse_schedule(spec.get("schedule", ""), spec.get("timezone"))
            problem = None
        except ValueError as err:
            problem = str(err)
        if problem is not None:
            self._stop(key)
            deployed = conditions.condition("Deployed", False, "InvalidSchedule", problem)
        elif sink is None:
            self._stop(key)
            deployed = conditions.condition("Deployed", None, "NoSink", "Waiting for the sink to resolve.")
        else:
            self._ensure(key, source, sink, (account, audience if flags.oidc else None))
            deployed = conditions.condition("Deployed", True)
        parts = [provided, deployed, oidc]
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, source, status)
        return UNRESOLVED_RETRY if sink is None else None
