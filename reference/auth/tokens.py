"""ServiceAccount tokens as the Kubernetes API server issues them: RS256 JWTs from the TokenRequest subresource,
checked by anyone who reads the issuer's OIDC discovery document and its JWKS.

The claims are Kubernetes' own: iss, sub (`system:serviceaccount:<ns>:<name>`), aud (a list), iat, nbf, exp, jti
and `kubernetes.io` (namespace and the ServiceAccount's name and uid). The key id is what Kubernetes uses:
the unpadded base64url SHA-256 of the public key's DER form.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://kubernetes.default.svc.cluster.local"
ALGORITHM = "RS256"
DEFAULT_SECONDS = 3600
MIN_SECONDS = 600  # Kubernetes refuses a shorter expirationSeconds
MAX_SECONDS = 2**32  # what the API server allows (it caps to its own maximum)
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"


class InvalidToken(ValueError):
    """A token that does not verify: the message says why."""


def key_id(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class Issued:
    token: str
    expires: int  # seconds since the epoch


class Signer:
    """The API server's service-account signing key and what it publishes of it."""

    def __init__(self, key: rsa.RSAPrivateKey, issuer: str = ISSUER) -> None:
        self.key = key
        self.issuer = issuer
        self.kid = key_id(key.public_key())

    @classmethod
    def load_or_create(cls, path: Path, issuer: str = ISSUER) -> Signer:
        """The key in `path` (PEM), made and written there (0600) the first time."""
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(loaded, rsa.RSAPrivateKey):
                return cls(loaded, issuer)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return cls(key, issuer)

    def issue(self, namespace: str, name: str, uid: str, audiences: list[str], seconds: int = DEFAULT_SECONDS,
              now: float | None = None) -> Issued:
        issued_at = int(time.time() if now is None else now)
        claims = {"aud": audiences, "exp": issued_at + seconds, "iat": issued_at, "nbf": issued_at,
                  "iss": self.issuer, "jti": str(uuid.uuid4()), "sub": f"system:serviceaccount:{namespace}:{name}",
                  "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}}
        token = jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return Issued(token, issued_at + seconds)

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "use": "sig", "kid": self.kid, "alg": ALGORITHM}]}

    def discovery(self, jwks_uri: str) -> dict[str, Any]:
        """The OIDC discovery document, as the API server serves it."""
        return {"issuer": self.issuer, "jwks_uri": jwks_uri, "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": [ALGORITHM]}


def verify(token: str, jwks: dict[str, Any], audience: str, issuer: str = ISSUER,
           now: float | None = None) -> dict[str, Any]:
    """The token's claims when it is signed by a key of `jwks`, issued by `issuer` for `audience` and not
    expired (go-oidc's checks); InvalidToken otherwise."""
    try:
        header = jwt.get_unverified_header(token)
        keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(jwks).keys}
        key = keys.get(header.get("kid")) if header.get("kid") else next(iter(keys.values()), None)
        if key is None:
            raise InvalidToken("no key of the issuer signed the token")
        claims = jwt.decode(token, key.key, algorithms=[ALGORITHM], audience=audience, issuer=issuer,
                            options={"require": ["exp", "iss", "sub", "aud"], "verify_exp": now is None})
    except jwt.PyJWTError as err:
        raise InvalidToken(str(err)) from err
    if now is not None and int(claims["exp"]) <= now:
        raise InvalidToken("Signature has expired")
    return claims


def expiry(token: str) -> int | None:
    """A token's exp claim, unverified (auth.GetJWTExpiry), or None when it has none."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return int(exp) if isinstance(exp, int | float) else None
