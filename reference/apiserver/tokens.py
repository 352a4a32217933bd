"""The TokenRequest subresource (`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`) and the service-account
issuer's discovery (`/.well-known/openid-configuration`, `/openid/v1/jwks`), as the Kubernetes API server serves
them: a bound token for an existing ServiceAccount, for the audiences asked (the issuer when none), valid for
expirationSeconds (3600 by default, at least 600)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web

from reference.apiserver import errors, protobuf
from reference.apiserver.decode import DecodeError, decode_json
from reference.apiserver.errors import Cause
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Registry
from reference.apiserver.server import ApiServer
from reference.auth.tokens import DEFAULT_SECONDS, DISCOVERY_PATH, JWKS_PATH, MAX_SECONDS, MIN_SECONDS, Signer

API_VERSION = "authentication.k8s.io/v1"


def token_request_from_protobuf(raw: bytes) -> dict:
    """The spec of a TokenRequest in Kubernetes' protobuf envelope (runtime.Unknown around
    authentication.k8s.io/v1 TokenRequest: spec = 2; audiences = 1, expirationSeconds = 4)."""
    if not raw.startswith(protobuf.MAGIC):
        raise ValueError("not a Kubernetes protobuf message")
    unknown = dict((n, v) for n, _, v in protobuf.wire_fields(raw[len(protobuf.MAGIC):]) if n == 2)
    message = unknown.get(2, b"")
    request = protobuf.wire_fields(message) if isinstance(message, bytes) else []
    spec_bytes = next((v for n, _, v in request if n == 2 and isinstance(v, bytes)), b"")
    spec_fields = protobuf.wire_fields(spec_bytes)
    spec: dict = {"audiences": [v.decode() for n, _, v in spec_fields if n == 1 and isinstance(v, bytes)]}
    seconds = next((v for n, _, v in spec_fields if n == 4 and isinstance(v, int)), None)
    if seconds is not None:
        spec["expirationSeconds"] = seconds
    return {"spec": spec}


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status, content_type="application/json")


class TokenRequests:
    def __init__(self, registry: Registry, signer: Signer, api_url: str) -> None:
        self.registry = registry
        self.signer = signer
        self.api_url = api_url.rstrip("/")
        self.accounts = registry.kinds.require("", "v1", "serviceaccounts")

    def install(self, api: ApiServer) -> None:
        api.add_subresource(self.accounts, "token", self.token)
        api.add_public_path(DISCOVERY_PATH, self.discovery)
        api.add_public_path(JWKS_PATH, self.jwks)

    async def discovery(self, request: web.Request) -> web.Response:
        return _json(self.signer.discovery(self.api_url + JWKS_PATH))

    async def jwks(self, request: web.Request) -> web.Response:
        return _json(self.signer.jwks())

    def issue(self, namespace: str, name: str, audiences: list[str] | None = None,
              seconds: int = DEFAULT_SECONDS) -> dict:
        """A TokenRequest's answer for the ServiceAccount `namespace/name` (ApiError 404 when it does not exist)."""
        account = self.registry.get(self.accounts, namespace, name)
        issued = self.signer.issue(namespace, name, account["metadata"]["uid"], audiences or [self.signer.issuer],
                                   seconds)
        expires = datetime.fromtimestamp(issued.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"kind": "TokenRequest", "apiVersion": API_VERSION,
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                "spec": {"audiences": audiences or [self.signer.issuer], "expirationSeconds": seconds,
                         "boundObjectRef": None},
                "status": {"token": issued.token, "expirationTimestamp": expires}}

    async def token(self, request: web.Request, kind: Kind, namespace: str, name: str) -> web.StreamResponse:
        if request.method != "POST":
            raise errors.method_not_allowed(f"{request.method} is not supported on serviceaccounts/token")
        content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
        raw = await request.read()
        try:
            if content_type == protobuf.CONTENT_TYPE:  # what `kubectl create token` sends
                body: object = token_request_from_protobuf(raw)
            else:
                body = decode_json(raw) if raw.strip() else {}
        except (DecodeError, ValueError) as err:
            raise errors.bad_request(f"the body of the request could not be decoded: {err}") from err
        spec = (body.get("spec") if isinstance(body, dict) else None) or {}
        audiences = spec.get("audiences") or []
        seconds = spec.get("expirationSeconds", DEFAULT_SECONDS)
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise errors.invalid("TokenRequest", "authentication.k8s.io", name, [Cause(
                "spec.audiences", "Invalid value: the audiences must be strings", "FieldValueInvalid")])
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < MIN_SECONDS:
            raise errors.invalid("TokenRequest", "authentication.k8s.io", name, [Cause(
                "spec.expirationSeconds", "Invalid value: may not specify a duration less than 10 minutes",
                "FieldValueInvalid")])
        return _json(self.issue(namespace, name, audiences, min(seconds, MAX_SECONDS)), 201)
