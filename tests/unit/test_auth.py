"""Sender identity's pure parts: ServiceAccount tokens signed and verified as Kubernetes and go-oidc do it, the
names Knative derives (audiences, OIDC service accounts), and EventPolicy matching as Knative's pkg/auth."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.apiserver.tokens import TokenRequests, token_request_from_protobuf
from reference.auth.names import audience, child_name, oidc_service_account
from reference.auth.policy import (
    ALLOW_ALL,
    DENY_ALL,
    Features,
    applied_status,
    applying,
    authorize,
    bearer,
    subject_matches,
)
from reference.auth.provider import TokenProvider
from reference.auth.tokens import ISSUER, InvalidToken, Signer, expiry, key_id, verify
from reference.cloudevents.codec import Event

AUDIENCE = "eventing.knative.dev/broker/ns/default"


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return Signer.load_or_create(tmp_path_factory.mktemp("pki") / "sa.key")


# Tokens -----------------------------------------------------------------------------------------------

def test_a_token_carries_kubernetes_claims_and_verifies_for_its_audience(signer: Signer) -> None:
    issued = signer.issue("ns", "sender", "uid-1", [AUDIENCE], 600, now=1_000_000)
    claims = verify(issued.token, signer.jwks(), AUDIENCE, now=1_000_001)
    assert claims["sub"] == "system:serviceaccount:ns:sender"
    assert claims["iss"] == ISSUER and claims["aud"] == [AUDIENCE]
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1_000_000, 1_000_000, 1_000_600)
    assert claims["kubernetes.io"] == {"namespace": "ns", "serviceaccount": {"name": "sender", "uid": "uid-1"}}
    assert jwt.get_unverified_header(issued.token)["kid"] == signer.kid
    assert expiry(issued.token) == issued.expires == 1_000_600


@pytest.mark.parametrize("why", ["audience", "issuer", "expired", "key", "tampered"])
def test_a_token_that_does_not_verify_is_refused(signer: Signer, why: str) -> None:
    token = signer.issue("ns", "sender", "uid", [AUDIENCE], 600).token
    jwks, wanted, issuer, now = signer.jwks(), AUDIENCE, ISSUER, None
    if why == "audience":
        wanted = "eventing.knative.dev/broker/ns/other"
    elif why == "issuer":
        issuer = "https://elsewhere"
    elif why == "expired":
        now = time.time() + 601
    elif why == "key":
        jwks = Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048)).jwks()
        jwks["keys"][0]["kid"] = signer.kid  # the same key id, another key: the signature tells
    else:
        head, body, signature = token.split(".")
        token = ".".join([head, body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB"), signature])
    with pytest.raises(InvalidToken):
        verify(token, jwks, wanted, issuer, now=now)


def test_the_key_survives_a_restart_and_is_published_with_its_id(tmp_path: Path) -> None:
    first = Signer.load_or_create(tmp_path / "sa.key")
    again = Signer.load_or_create(tmp_path / "sa.key")
    assert first.kid == again.kid == key_id(first.key.public_key())
    assert (tmp_path / "sa.key").stat().st_mode & 0o777 == 0o600
    published = again.jwks()["keys"][0]
    assert (published["kid"], published["alg"], published["use"], published["kty"]) == (first.kid, "RS256", "sig",
                                                                                         "RSA")
    discovery = again.discovery("https://api/openid/v1/jwks")
    assert discovery["issuer"] == ISSUER and discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    token = first.issue("ns", "a", "u", [AUDIENCE]).token
    assert verify(token, again.jwks(), AUDIENCE)["sub"] == "system:serviceaccount:ns:a"


def test_the_provider_asks_once_per_account_and_audience_until_the_token_nearly_expires() -> None:
    asked: list[tuple[str, str, str]] = []
    clock = [1000.0]

    async def mint(namespace: str, account: str, aud: str) -> tuple[str, int]:
        asked.append((namespace, account, aud))
        return f"token-{len(asked)}", int(clock[0]) + 600

    provider = TokenProvider(mint, clock=lambda: clock[0])

    async def scenario() -> list[str | None]:
        out = [await provider.authorization("ns", "sa", AUDIENCE), await provider.authorization("ns", "sa", AUDIENCE)]
        clock[0] += 301  # within the renewal margin: a fresh one
        out.append(await provider.authorization("ns", "sa", AUDIENCE))
        out.append(await provider.authorization("ns", None, AUDIENCE))
        out.append(await provider.authorization("ns", "sa", None))
        return out

    assert asyncio.run(scenario()) == ["Bearer token-1", "Bearer token-1", "Bearer token-2", None, None]
    assert len(asked) == 2


# Names --------------------------------------------------------------------------------------------------

def test_names_as_knative_derives_them() -> None:
    assert audience("eventing.knative.dev", "Broker", "ns", "Default") == "eventing.knative.dev/broker/ns/default"
    assert oidc_service_account("my-source", "sources.knative.dev", "PingSource") == \
        "my-source-oidc-sources.knative.dev-pingsource"
    assert child_name("job-sink-logger-", "0" * 32) == "job-sink-logger-" + "0" * 32
    long = child_name("x" * 40 + "-", "f" * 32)
    assert len(long) <= 63 and long.startswith("x" * 31)
    assert len(child_name("a" * 60, "-oidc-token")) == 63


# Policies -----------------------------------------------------------------------------------------------

def event_policy(name: str, to: list[dict] | None = None, subjects: list[str] | None = None,
                 filters: list[dict] | None = None, ready: bool = True, namespace: str = "ns") -> dict:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {**({"to": to} if to is not None else {}), **({"filters": filters} if filters else {})},
            "status": {"from": subjects or [],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


BROKER_REF = {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}}
SELECTOR = {"selector": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "matchLabels": {"app": "x"}}}


def test_which_policies_apply_to_a_resource() -> None:
    policies = [event_policy("z-all"), event_policy("by-ref", [BROKER_REF]), event_policy("by-selector", [SELECTOR]),
                event_policy("other-kind", [{"ref": {"apiVersion": "messaging.knative.dev/v1", "kind": "Channel",
                                                     "name": "default"}}]),
                event_policy("elsewhere", namespace="other")]
    found = applying(policies, "eventing.knative.dev", "Broker", "ns", "default", {"app": "x"})
    assert [p["metadata"]["name"] for p in found] == ["by-ref", "by-selector", "z-all"]
    found = applying(policies, "eventing.knative.dev", "Broker", "ns", "DEFAULT", {})
    assert [p["metadata"]["name"] for p in found] == ["by-ref", "z-all"], "names match case-insensitively"


def test_the_status_a_resource_gets_from_its_policies() -> None:
    on, off = Features(oidc=True), Features()
    refs, condition = applied_status(on, [event_policy("a"), event_policy("b", ready=False)])
    assert refs == [{"name": "a", "apiVersion": "eventing.knative.dev/v1alpha1"}]
    assert (condition["status"], condition["reason"]) == ("False", "EventPoliciesNotReady")
    assert condition["message"] == "event policies b are not ready"
    refs, condition = applied_status(on, [])
    assert (refs, condition["reason"], condition["message"]) == (
        [], "DefaultAuthorizationMode", 'Default authz mode is "Allow-Same-Namespace"')
    _, condition = applied_status(off, [])
    assert (condition["status"], condition["reason"]) == ("True", "OIDCDisabled")


@pytest.mark.parametrize(("pattern", "subject", "matches"), [
    ("system:serviceaccount:ns:a", "system:serviceaccount:ns:a", True),
    ("system:serviceaccount:ns:A", "system:serviceaccount:ns:a", True),
    ("system:serviceaccount:ns:other-*", "system:serviceaccount:ns:other-app", True),
    ("system:serviceaccount:ns:other-*", "system:serviceaccount:ns:others", False),
    ("system:serviceaccount:ns:a", "system:serviceaccount:ns:ab", False),
])
def test_subjects_match_exactly_or_by_a_star_suffix(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


def ce(type_: str) -> Event:
    return Event({"specversion": "1.0", "id": "1", "source": "/s", "type": type_}, None)


def test_a_policy_lets_in_its_subjects_events_that_pass_its_filters() -> None:
    allowed = event_policy("p", subjects=["system:serviceaccount:ns:trusted"],
                           filters=[{"exact": {"type": "com.github.push"}}])
    features = Features(oidc=True)
    assert authorize("system:serviceaccount:ns:trusted", "ns", [allowed], ce("com.github.push"), features).allowed
    refused = authorize("system:serviceaccount:ns:trusted", "ns", [allowed], ce("com.github.pull"), features)
    assert refused.status == 403 and "filters" in refused.reason
    assert authorize("system:serviceaccount:ns:stranger", "ns", [allowed], ce("com.github.push"), features).status \
        == 403
    # The first policy whose subjects match decides, as Knative's SubjectAndFiltersPass does.
    open_policy = event_policy("q", subjects=["system:serviceaccount:ns:*"])
    assert authorize("system:serviceaccount:ns:trusted", "ns", [allowed, open_policy], ce("x"), features).status == 403
    assert authorize("system:serviceaccount:ns:trusted", "ns", [open_policy, allowed], ce("x"), features).allowed


@pytest.mark.parametrize(("mode", "subject", "status"), [
    ("allow-same-namespace", "system:serviceaccount:ns:a", 200),
    ("allow-same-namespace", "system:serviceaccount:other:a", 403),
    (ALLOW_ALL, "system:serviceaccount:other:a", 200),
    (DENY_ALL, "system:serviceaccount:ns:a", 403),
])
def test_without_policies_the_default_authorization_mode_decides(mode: str, subject: str, status: int) -> None:
    features = Features.parse({"authentication-oidc": "Enabled", "default-authorization-mode": mode.upper()})
    assert features.oidc and features.mode == mode
    assert authorize(subject, "ns", [], ce("x"), features).status == status


def test_the_bearer_token_of_a_request() -> None:
    assert bearer({"Authorization": "Bearer abc"}) == "abc"
    assert bearer({"Authorization": "bearer  abc "}) == "abc"
    assert bearer({"Authorization": "Basic abc"}) == "" and bearer({}) == ""


# The TokenRequest subresource ---------------------------------------------------------------------------------

def _field(number: int, payload: bytes | int) -> bytes:
    def varint(value: int) -> bytes:
        out = b""
        while True:
            byte, value = value & 0x7F, value >> 7
            out += bytes([byte | (0x80 if value else 0)])
            if not value:
                return out
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_a_token_request_as_kubectl_sends_it_in_protobuf() -> None:
    spec = _field(1, b"aud-a") + _field(1, b"aud-b") + _field(4, 1200)
    message = _field(1, b"") + _field(2, spec)
    envelope = b"k8s\x00" + _field(1, _field(1, b"authentication.k8s.io/v1") + _field(2, b"TokenRequest")) + \
        _field(2, message) + _field(4, b"application/vnd.kubernetes.protobuf")
    assert token_request_from_protobuf(envelope) == {"spec": {"audiences": ["aud-a", "aud-b"],
                                                              "expirationSeconds": 1200}}
    with pytest.raises(ValueError):
        token_request_from_protobuf(b"{}")


def test_token_requests_answer_for_existing_service_accounts(signer: Signer) -> None:
    registry = Registry(Store())
    bootstrap(registry)
    accounts = registry.kinds.require("", "v1", "serviceaccounts")
    registry.create(accounts, "default", {"metadata": {"name": "sender"}})
    requests = TokenRequests(registry, signer, "https://127.0.0.1:6443")
    answer = requests.issue("default", "sender", [AUDIENCE], 900)
    assert (answer["kind"], answer["apiVersion"]) == ("TokenRequest", "authentication.k8s.io/v1")
    claims = verify(answer["status"]["token"], signer.jwks(), AUDIENCE)
    assert claims["exp"] - claims["iat"] == 900 and claims["kubernetes.io"]["serviceaccount"]["name"] == "sender"
    assert answer["status"]["expirationTimestamp"].endswith("Z")
    with pytest.raises(ApiError) as missing:
        requests.issue("default", "nobody", [AUDIENCE])
    assert missing.value.code == 404
