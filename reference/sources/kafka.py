"""The KafkaSource controller: resolves the sink (and dead-letter sink), checks that the brokers answer,
and is Ready once the data plane consumes this generation. The consuming itself is kafka_adapter's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from reference.apis import conditions
from reference.eventing.resolver import Unresolvable, dead_letter, destination_watches, resolve
from reference.kafka.locate import reachable
from reference.reconciler.controller import Controller, Key, Watch, own_key

# (namespace, name, generation) -> (consuming, why not)
ConsumerProbe = Callable[[str, str, int], Awaitable[tuple[bool, str | None]]]
PROBE_RETRY = 0.5
REACHABILITY_TTL = 10.0


async def always_consuming(namespace: str, name: str, generation: int) -> tuple[bool, str | None]:
    return True, None


class KafkaSourceReconciler(Controller):
    name = "kafkasource-controller"

    def __init__(self, registry, probe: ConsumerProbe = always_consuming,
                 check: Callable[[str, float], str | None] = reachable) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("sources.knative.dev", "v1beta1", "kafkasources")
        self.probe = probe
        self.check = check
        self._reachability: dict[str, tuple[float, str | None]] = {}

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), *destination_watches(self.registry, self.kind)]

    async def _unreachable(self, bootstrap: str) -> str | None:
        checked = self._reachability.get(bootstrap)
        if checked is None or time.monotonic() - checked[0] > REACHABILITY_TTL:
            checked = (time.monotonic(), await asyncio.to_thread(self.check, bootstrap, 3.0))
            self._reachability[bootstrap] = checked
        return checked[1]

    async def reconcile(self, key: Key) -> float | None:
        source = self.get(self.kind, *key)
        if source is None or source["metadata"].get("deletionTimestamp"):
            return None
        spec = source.get("spec") or {}
        previous = source.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "sinkUri", "deliveryStatus")}
        generation = int(source["metadata"].get("generation") or 0)
        status.update(observedGeneration=generation, consumers=int(spec.get("consumers") or 1))
        parts, again = [], None
        try:
            status["sinkUri"] = resolve(spec.get("sink"), key[0], self.registry.store, self.registry.kinds)
            parts.append(conditions.condition("SinkProvided", True))
        except Unresolvable as err:
            parts.append(conditions.condition("SinkProvided", False, "NotFound", str(err)))
            again = 2.0
        if (spec.get("delivery") or {}).get("deadLetterSink"):
            delivery_status, resolved = dead_letter(spec["delivery"], key[0], self.registry.store,
                                                    self.registry.kinds)
            if delivery_status:
                status["deliveryStatus"] = delivery_status
            parts.append(resolved)
            if resolved["status"] != "True":
                again = 2.0
        bootstrap = ",".join(spec.get("bootstrapServers") or [])
        problem = await self._unreachable(bootstrap)
        parts.append(conditions.condition("ConnectionEstablished", False, "ConnectionFailed", problem)
                     if problem else conditions.condition("ConnectionEstablished", True))
        if problem:
            again = REACHABILITY_TTL
        if all(p["status"] == "True" for p in parts):
            consuming, why = await self.probe(key[0], key[1], generation)
            parts.append(conditions.condition("ConsumerGroup", True) if consuming else conditions.condition(
                "ConsumerGroup", None, "Starting", why or "Waiting for the data plane's consumers."))
            again = None if consuming else PROBE_RETRY
        else:
            parts.append(conditions.condition("ConsumerGroup", None, "NotReady",
                                              "Waiting for the sink and the brokers."))
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, source, status)
        return again
