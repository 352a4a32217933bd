"""The broker data plane: the ingress at `/<namespace>/<broker>` and the fan-out to the broker's Ready
Triggers (filter, deliver with the Trigger's or else the Broker's delivery spec, send replies back in).

The hop limit, as Knative's TTLDefaulter keeps it: the ingress gives an event without `knativebrokerttl`
(or with one that is not an integer) 255 and takes one off any other, and refuses with 400 an event whose
TTL is then 0 or less. Subscribers get the event without the TTL; a reply re-enters the broker with the TTL
the event had, so each pass through the ingress costs one and a loop of replies ends.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from reference.apiserver.admission.eventing import BROKER_CLASS, DEFAULT_BROKER_CLASS
from reference.auth.provider import TokenProvider
from reference.cloudevents.codec import Event
from reference.cloudevents.delivery import DeliverySpec, Dispatcher, Outcome
from reference.cloudevents.filters import Predicate, compile_trigger
from reference.cloudevents.receiver import receive
from reference.dataplane.eventing.identity import Gate, Verified

log = logging.getLogger("kproof.eventing")

TTL = "knativebrokerttl"
ARRIVAL = "knativearrivaltime"
DEFAULT_TTL = 255
BROKER_CLASSES = (DEFAULT_BROKER_CLASS,)
MAX_PENDING = 100_000  # deliveries waiting or in flight; beyond this the ingress answers 503 (retry later)
MAX_CONCURRENT = 1_000  # deliveries in flight at once


@dataclass
class TriggerRoute:
    uid: str
    name: str
    broker: str
    generation: int
    ready: bool
    subscriber: str | None
    predicate: Predicate
    trigger: dict


def dispatchable(trigger: dict) -> bool:
    """Its broker is Ready and its subscriber resolved. (Ready itself waits for the data plane to have the
    trigger, so a client that sees Ready can rely on delivery.)"""
    true = {c.get("type") for c in (trigger.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
    return {"BrokerReady", "SubscriberResolved"} <= true


def ttl_on_ingress(event: Event) -> int:
    """The event's hop budget once through the ingress: 255 when absent or not an integer, else one less
    (never below 0)."""
    try:
        return max(0, int(event.attributes[TTL]) - 1)
    except (KeyError, ValueError):
        return DEFAULT_TTL


def arrival_time() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class BrokerPlane:
    """The MTChannelBasedBroker: accepted events are held in memory and fanned out at once."""

    classes: tuple[str, ...] = BROKER_CLASSES
    metric_prefix = "kproof_broker"

    def __init__(self, dispatcher: Dispatcher, registry: CollectorRegistry | None = None) -> None:
        self.dispatcher = dispatcher
        self.brokers: dict[tuple[str, str], dict] = {}
        self.triggers: dict[tuple[str, str], dict[str, TriggerRoute]] = {}  # (ns, broker) -> uid -> route
        self.features: dict[str, str] = {}
        # Sender identity (set by the data plane): the ingress's token and EventPolicy check, the dispatch's tokens.
        self.gate: Gate | None = None
        self.tokens: TokenProvider | None = None
        self.pending = 0
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._tasks: set[asyncio.Task] = set()
        self.received = Counter(f"{self.metric_prefix}_events", "Events the broker ingress answered, by code",
                                ["namespace", "broker", "code"], registry=registry)
        self.dispatched = Counter(f"{self.metric_prefix}_trigger_deliveries",
                                  "Deliveries to trigger subscribers, by result",
                                  ["namespace", "trigger", "result"], registry=registry)

    # Informer handlers -------------------------------------------------------------------------------

    def set_broker(self, kind: str, broker: dict, old: dict | None) -> None:
        meta = broker["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        klass = (meta.get("annotations") or {}).get(BROKER_CLASS, "")
        if kind == "DELETED" or klass not in self.classes:
            self.brokers.pop(key, None)
        else:
            self.brokers[key] = broker

    def set_trigger(self, kind: str, trigger: dict, old: dict | None) -> None:
        meta = trigger["metadata"]
        spec = trigger.get("spec") or {}
        namespace, uid = meta.get("namespace", ""), meta["uid"]
        routes = self.triggers.setdefault((namespace, spec.get("broker", "")), {})
        known = routes.pop(uid, None)
        if kind == "DELETED":
            return
        generation = int(meta.get("generation") or 0)
        # Filters compile once per generation: status updates reuse the compiled predicate.
        predicate = known.predicate if known and known.generation == generation else compile_trigger(spec)
        routes[uid] = TriggerRoute(uid, meta["name"], spec.get("broker", ""), generation, dispatchable(trigger),
                                   (trigger.get("status") or {}).get("subscriberUri"), predicate, trigger)

    def set_features(self, data: dict[str, str]) -> None:
        self.features = data

    def serves(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.brokers

    def owns_trigger(self, uid: str) -> bool:
        """Whether the trigger's broker is one of this plane's."""
        return any(uid in routes and key in self.brokers for key, routes in self.triggers.items())

    def serves_trigger(self, namespace: str, name: str, uid: str, generation: int, subscriber: str) -> bool:
        """Whether events reach this trigger's generation and subscriber now (the trigger's readiness probe)."""
        route = next((r for (ns, _), routes in self.triggers.items() if ns == namespace
                      for r in routes.values() if r.uid == uid), None)
        return (route is not None and route.name == name and route.generation == generation and route.ready
                and route.subscriber == subscriber)

    # Ingress -----------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or (parts[0], parts[1]) not in self.brokers:
            return web.Response(status=404, text=f"no broker at {request.path}\n")
        namespace, name = parts
        status_of = (self.brokers[(namespace, name)].get("status") or {})
        verified = Verified()
        if self.gate is not None and request.method == "POST":
            verified = await self.gate.authenticate(request.headers, (status_of.get("address") or {}).get("audience"))
            if verified.refusal is not None:
                self.received.labels(namespace, name, str(verified.refusal.status)).inc()
                return verified.refusal
        event = await receive(request)
        if isinstance(event, web.Response):
            if event.status >= 400:
                self.received.labels(namespace, name, str(event.status)).inc()
            return event
        if self.gate is not None:
            decision = self.gate.authorize(verified, namespace, status_of.get("policies"), event)
            if not decision.allowed:
                self.received.labels(namespace, name, str(decision.status)).inc()
                return web.Response(status=decision.status, text=decision.reason + "\n")
        status, message = await self.ingest(namespace, name, event)
        self.received.labels(namespace, name, str(status)).inc()
        return web.Response(status=status, text=message) if message else web.Response(status=status)

    async def ingest(self, namespace: str, name: str, event: Event) -> tuple[int, str]:
        """Accepts an event into a broker: (HTTP status, message)."""
        ttl = ttl_on_ingress(event)
        refusal = self._refusal(namespace, name, ttl)
        if refusal is not None:
            return refusal
        attributes = {**event.attributes, TTL: str(ttl), ARRIVAL: arrival_time()}
        return await self.keep(namespace, name, replace(event, attributes=attributes))

    def _refusal(self, namespace: str, name: str, ttl: int) -> tuple[int, str] | None:
        if (namespace, name) not in self.brokers:
            return 404, f"broker {namespace}/{name} does not exist\n"
        if ttl <= 0:
            return 400, f"the event's {TTL} is spent\n"
        if self.pending >= MAX_PENDING:
            return 503, "the broker has too many deliveries pending; retry later\n"
        return None

    async def keep(self, namespace: str, name: str, event: Event) -> tuple[int, str]:
        """Takes responsibility for an accepted event: here, dispatch it at once."""
        for route in list(self.triggers.get((namespace, name), {}).values()):
            if route.ready and route.subscriber and route.predicate(event):
                self._spawn(self.deliver(namespace, name, route, event))
        return 202, ""

    def _spawn(self, work) -> None:
        self.pending += 1
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self.pending -= 1
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event delivery crashed", exc_info=task.exception())

    def delivery_of(self, route: TriggerRoute, broker: dict) -> DeliverySpec:
        delivery = (route.trigger.get("spec") or {}).get("delivery") or (broker.get("spec") or {}).get("delivery")
        dls = (route.trigger.get("status") or {}).get("deadLetterSinkUri")  # DeliveryStatus is inline
        return DeliverySpec.parse(delivery, dls,
                                  honour_retry_after=self.features.get("delivery-retryafter") == "enabled")

    async def deliver(self, namespace: str, broker_name: str, route: TriggerRoute, event: Event) -> None:
        """To one trigger's subscriber, without the TTL; a reply goes back into the broker."""
        broker = self.brokers.get((namespace, broker_name))
        if broker is None or not route.subscriber:
            return
        ttl = int(event.attributes[TTL])
        outgoing = replace(event, attributes={k: v for k, v in event.attributes.items() if k != TTL})
        authorization, dls_authorization = await self._authorizations(route)
        async with self._slots:
            outcome = await self.dispatcher.deliver(outgoing, route.subscriber, self.delivery_of(route, broker),
                                                    namespace=namespace, authorization=authorization,
                                                    dead_letter_authorization=dls_authorization)
        self.dispatched.labels(namespace, route.name, _result(outcome)).inc()
        if outcome.reply is not None:
            await self._reply(namespace, broker_name, route, outcome.reply, ttl)

    async def _authorizations(self, route: TriggerRoute) -> tuple[str | None, str | None]:
        """The trigger's tokens for its subscriber and its dead-letter sink, while sender identity is on."""
        if self.tokens is None or self.gate is None or not self.gate.features.oidc:
            return None, None
        status = route.trigger.get("status") or {}
        namespace = route.trigger["metadata"].get("namespace", "")
        account = (status.get("auth") or {}).get("serviceAccountName")
        dls_audience = status.get("deadLetterSinkAudience")
        try:
            return (await self.tokens.authorization(namespace, account, status.get("subscriberAudience")),
                    await self.tokens.authorization(namespace, account, dls_audience))
        except (aiohttp.ClientError, KeyError, ValueError) as err:  # sent without one: the destination says 401
            log.warning("no token for trigger %s/%s: %s", namespace, route.name, err)
            return None, None

    async def _reply(self, namespace: str, broker: str, route: TriggerRoute, reply: Event, ttl: int) -> None:
        """The reply re-enters the ingress with the event's TTL; the ingress takes one off (or refuses it)."""
        status, message = await self.ingest(namespace, broker, replace(reply, attributes={**reply.attributes,
                                                                                         TTL: str(ttl)}))
        if status != 202:
            log.warning("the reply of trigger %s/%s was refused: %s %s", namespace, route.name, status,
                        message.strip())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _result(outcome: Outcome) -> str:
    if outcome.delivered:
        return "delivered"
    return "dead_lettered" if outcome.dead_lettered else "failed"
