"""Processors: Bloblang mappings, and HTTP calls whose answer becomes the message (Benthos's `http`).

The http processor retries connection errors, 5xx and the `backoff_on` statuses (429) up to `retries`
times, waiting `retry_period` and doubling it up to `max_retry_backoff`; any other status fails the
message at once. Proxies come from the environment (HTTP_PROXY, NO_PROXY), as Benthos takes them, so a
URL with a Service's host reaches it through the reference's ingress.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from kproof.pipeline.bloblang import Message
from kproof.pipeline.config import BloblangProcessor, HttpProcessor


class ProcessingFailed(RuntimeError):
    """A message could not be processed; it is reported and not written."""


async def http_call(spec: HttpProcessor, session: aiohttp.ClientSession, message: Message) -> Message:
    body = message.content if isinstance(message.content, bytes | str) else json.dumps(message.content)
    delay = spec.retry_period
    last = ""
    for attempt in range(spec.retries + 1):
        try:
            async with session.request(spec.verb, spec.url, data=body, headers=spec.headers,
                                       timeout=aiohttp.ClientTimeout(total=spec.timeout)) as answer:
                payload = await answer.read()
                if 200 <= answer.status < 300:
                    return Message(_decode(payload), {**message.meta, "http_status_code": str(answer.status)})
                last = f"HTTP {answer.status}: {payload[:200].decode(errors='replace')}"
                retry = answer.status >= 500 or answer.status in spec.backoff_on
                if answer.status in spec.drop_on or not retry:
                    break
        except (aiohttp.ClientError, TimeoutError) as err:
            last = f"{type(err).__name__}: {err}"
        if attempt < spec.retries:
            await asyncio.sleep(delay)
            delay = min(delay * 2, spec.max_retry_backoff)
    raise ProcessingFailed(f"{spec.verb} {spec.url}: {last} (after {spec.retries} retries)")


def _decode(payload: bytes) -> object:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")


async def run_processors(processors: tuple[BloblangProcessor | HttpProcessor, ...], session: aiohttp.ClientSession,
                         message: Message, observe) -> Message:
    """The message through every processor in order; `observe(index, seconds, failed)` for the metrics."""
    loop = asyncio.get_running_loop()
    for index, processor in enumerate(processors):
        started = loop.time()
        try:
            if isinstance(processor, BloblangProcessor):
                message = processor.mapping.apply(message)
            else:
                message = await http_call(processor, session, message)
        except ProcessingFailed:
            observe(index, loop.time() - started, True)
            raise
        observe(index, loop.time() - started, False)
    return message
