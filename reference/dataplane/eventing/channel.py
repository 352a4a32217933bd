"""The InMemoryChannel dispatcher: an event POSTed to a channel's host goes to every subscriber in the
channel's spec.subscribers, concurrently, each with its own delivery spec (else the channel's, with the
dead-letter sink its status resolved); a subscriber's reply goes to its replyUri, when it has one. Every
delivery carries Kn-Namespace, the channel's namespace."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from reference.cloudevents.codec import Event
from reference.cloudevents.delivery import DeliverySpec, Dispatcher
from reference.cloudevents.receiver import receive

log = logging.getLogger("kproof.eventing")
MAX_CONCURRENT = 1_000


@dataclass(frozen=True)
class Subscriber:
    uid: str
    subscriber: str | None
    reply: str | None
    delivery: DeliverySpec


def subscribers_of(channel: dict) -> list[Subscriber]:
    spec = channel.get("spec") or {}
    # A ref-only deadLetterSink has no uri in the spec: the controller resolves it into the status.
    fallback = DeliverySpec.parse(spec.get("delivery"), (channel.get("status") or {}).get("deadLetterSinkUri"))
    return [Subscriber(entry.get("uid", ""), entry.get("subscriberUri"), entry.get("replyUri"),
                       DeliverySpec.parse(entry["delivery"]) if entry.get("delivery") else fallback)
            for entry in spec.get("subscribers") or []]


class ChannelPlane:
    def __init__(self, dispatcher: Dispatcher, registry: CollectorRegistry | None = None) -> None:
        self.dispatcher = dispatcher
        self.channels: dict[tuple[str, str], list[Subscriber]] = {}
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._tasks: set[asyncio.Task] = set()
        self.dispatched = Counter("kproof_channel_deliveries", "Deliveries to channel subscribers, by result",
                                  ["namespace", "channel", "result"], registry=registry)

    def set_channel(self, kind: str, channel: dict, old: dict | None) -> None:
        meta = channel["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self.channels.pop(key, None)
        else:
            self.channels[key] = subscribers_of(channel)

    def serves(self, namespace: str, name: str, subscriber: str | None = None) -> bool:
        """Whether the channel takes events (and, given a subscription's uid, delivers them to it)."""
        subscribers = self.channels.get((namespace, name))
        if subscribers is None:
            return False
        return subscriber is None or any(s.uid == subscriber and s.subscriber for s in subscribers)

    async def handle(self, request: web.Request, namespace: str, name: str) -> web.Response:
        if (namespace, name) not in self.channels:
            return web.Response(status=404, text=f"no channel {namespace}/{name}\n")
        event = await receive(request)
        if isinstance(event, web.Response):
            return event
        self.fan_out(namespace, name, event)
        return web.Response(status=202)

    def fan_out(self, namespace: str, name: str, event: Event) -> None:
        for subscriber in self.channels.get((namespace, name), []):
            if subscriber.subscriber or subscriber.reply:
                task = asyncio.get_running_loop().create_task(self._deliver(namespace, name, subscriber, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, namespace: str, name: str, subscriber: Subscriber, event: Event) -> None:
        async with self._slots:
            reply: Event | None = event  # a subscription with only a reply forwards the event itself
            if subscriber.subscriber:
                outcome = await self.dispatcher.deliver(event, subscriber.subscriber, subscriber.delivery,
                                                        namespace=namespace)
                self.dispatched.labels(namespace, name, "delivered" if outcome.delivered else
                                       "dead_lettered" if outcome.dead_lettered else "failed").inc()
                reply = outcome.reply
            if reply is not None and subscriber.reply:
                outcome = await self.dispatcher.deliver(reply, subscriber.reply, subscriber.delivery,
                                                        prefer_reply=False, namespace=namespace)
                if not outcome.delivered:
                    log.warning("channel %s/%s: the reply destination %s refused a reply", namespace, name,
                                subscriber.reply)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
