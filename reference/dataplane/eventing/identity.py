"""Sender identity in the data plane: the ingresses' check of a request's token and of the EventPolicies applied
to their resource (auth.Verifier.VerifyRequest), and tokens for the data plane's own senders (trigger and
channel dispatch), asked of the API server's TokenRequest subresource.

The issuer's keys come from the API server's OIDC discovery (its JWKS), fetched when first needed and again
when a token names a key not seen yet. EventPolicies arrive by informer; config-features says whether any of
this is on (`authentication-oidc`) and the default authorization mode.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from aiohttp import web

from reference.auth.policy import Decision, Features, authorize, bearer
from reference.auth.provider import TokenProvider
from reference.auth.tokens import DISCOVERY_PATH, InvalidToken, verify
from reference.cloudevents.codec import Event

log = logging.getLogger("kproof.eventing")

FetchJson = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class Verified:
    """What an ingress learnt of a request before reading its event: the sender's subject (None while sender
    identity is off), or the answer that refuses it."""

    subject: str | None = None
    refusal: web.Response | None = None


class Gate:
    def __init__(self, fetch: FetchJson) -> None:
        self.fetch = fetch  # GET an API server path, as JSON
        self.features = Features()
        self.policies: dict[tuple[str, str], dict] = {}
        self._issuer: str | None = None
        self._jwks: dict[str, Any] | None = None

    # Informer handlers ---------------------------------------------------------------------------------

    def set_features(self, data: dict[str, str]) -> None:
        self.features = Features.parse(data)

    def set_policy(self, kind: str, policy: dict, old: dict | None) -> None:
        meta = policy["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self.policies.pop(key, None)
        else:
            self.policies[key] = policy

    # Checks ------------------------------------------------------------------------------------------

    async def _keys(self, refresh: bool = False) -> tuple[str, dict[str, Any]]:
        if self._jwks is None or self._issuer is None or refresh:
            discovery = await self.fetch(DISCOVERY_PATH)
            self._issuer = str(discovery["issuer"])
            jwks_path = "/" + str(discovery["jwks_uri"]).split("://", 1)[-1].split("/", 1)[-1]
            self._jwks = await self.fetch(jwks_path)
        return self._issuer, self._jwks

    async def subject_of(self, token: str, audience: str) -> str:
        """The verified token's subject; InvalidToken when it does not verify."""
        issuer, jwks = await self._keys()
        kid = jwt.get_unverified_header(token).get("kid") if token.count(".") == 2 else None
        if kid and kid not in {k.get("kid") for k in jwks.get("keys") or []}:
            issuer, jwks = await self._keys(refresh=True)
        return str(verify(token, jwks, audience, issuer)["sub"])

    async def authenticate(self, headers: Any, audience: str | None) -> Verified:
        """401 without a token or with one that does not verify for `audience`; nothing while identity is off."""
        if not self.features.oidc:
            return Verified()
        token = bearer(headers)
        if not token:
            return Verified(refusal=web.Response(status=401, text="no JWT token found in request\n"))
        if not audience:
            return Verified(refusal=web.Response(status=500, text="no audience is provided\n"))
        try:
            return Verified(subject=await self.subject_of(token, audience))
        except (InvalidToken, jwt.PyJWTError, aiohttp.ClientError, KeyError, ValueError) as err:
            return Verified(refusal=web.Response(status=401, text=f"failed to verify JWT: {err}\n"))

    def authorize(self, verified: Verified, namespace: str, applied: list[dict] | None, event: Event) -> Decision:
        """Whether the verified sender may send `event` to a resource of `namespace` whose status.policies are
        `applied` (403 when not)."""
        if verified.subject is None:
            return Decision(200, "sender identity is off")
        policies = [self.policies[(namespace, ref.get("name", ""))] for ref in applied or []
                    if (namespace, ref.get("name", "")) in self.policies]
        return authorize(verified.subject, namespace, policies, event, self.features)


def api_fetcher(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> FetchJson:
    """GETs of the API server at `url`, with the data plane's credentials in `headers`."""
    async def fetch(path: str) -> dict[str, Any]:
        async with session.get(url + path, headers=headers) as response:
            response.raise_for_status()
            found: dict[str, Any] = await response.json()
            return found
    return fetch


def api_token_provider(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> TokenProvider:
    """Tokens from `POST .../serviceaccounts/<name>/token` (what Knative's OIDCTokenProvider asks)."""
    async def mint(namespace: str, account: str, audience: str) -> tuple[str, int]:
        path = f"{url}/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": [audience], "expirationSeconds": 3600}}
        async with session.post(path, json=body, headers=headers) as response:
            response.raise_for_status()
            answer = await response.json()
        token = answer["status"]["token"]
        return token, int(jwt.decode(token, options={"verify_signature": False})["exp"])
    return TokenProvider(mint)
