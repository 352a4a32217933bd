"""An asyncio face on confluent-kafka's Producer: `await produce(...)` returns once the broker has the
record (acks=all), or raises KafkaException. A thread serves the producer's delivery callbacks."""

from __future__ import annotations

import asyncio
import threading

from confluent_kafka import KafkaException, Producer

from reference.kafka.client import config


class AsyncProducer:
    def __init__(self, bootstrap: str, **extra: object) -> None:
        self.bootstrap = bootstrap
        self.producer = Producer(config(bootstrap, **{"acks": "all", "enable.idempotence": True,
                                                      "linger.ms": 2, **extra}))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve_callbacks, name="kafka-producer", daemon=True)
        self._thread.start()

    def _serve_callbacks(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    async def produce(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                      headers: list[tuple[str, bytes | str | None]] | None = None) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def delivered(err: object, message: object) -> None:
            def settle() -> None:
                if done.done():
                    return
                if err is not None:
                    done.set_exception(KafkaException(err))
                else:
                    done.set_result(None)
            loop.call_soon_threadsafe(settle)

        for _ in range(1000):
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let the callbacks drain it
                await asyncio.sleep(0.01)
        else:
            raise KafkaException("the producer's queue stayed full")
        await done

    async def close(self, timeout: float = 10.0) -> None:
        await asyncio.to_thread(self.producer.flush, timeout)
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 2)
