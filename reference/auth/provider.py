"""Tokens for senders (auth.OIDCTokenProvider): one per ServiceAccount and audience, asked for once and kept
until a few minutes before it expires."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

# (namespace, ServiceAccount, audience) -> (token, its expiry in seconds since the epoch)
Mint = Callable[[str, str, str], Awaitable[tuple[str, int]]]
RENEW_BEFORE = 300.0  # Knative's expiry buffer


class TokenProvider:
    def __init__(self, mint: Mint, clock: Callable[[], float] = time.time) -> None:
        self.mint = mint
        self.clock = clock
        self._cache: dict[tuple[str, str, str], tuple[str, int]] = {}

    async def token(self, namespace: str, service_account: str, audience: str) -> str:
        key = (namespace, service_account, audience)
        cached = self._cache.get(key)
        if cached is not None and cached[1] - RENEW_BEFORE > self.clock():
            return cached[0]
        self._cache[key] = await self.mint(namespace, service_account, audience)
        return self._cache[key][0]

    async def authorization(self, namespace: str, service_account: str | None, audience: str | None
                            ) -> str | None:
        """The Authorization header a sender presents to `audience`, or None when it has no identity or the
        destination asks for none."""
        if not service_account or not audience:
            return None
        return f"Bearer {await self.token(namespace, service_account, audience)}"
