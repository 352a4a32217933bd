"""RequestReply's correlation ids, as Knative signs and checks them (pkg/requestreply/correlation_id.go).

A request leaving a RequestReply carries `<correlationAttribute>: <id>:<sealed id>:<index>`, where the sealed
id is base64url(nonce || AES-256-GCM(id)) under the RequestReply's key and the index names the data-plane
replica that waits for the answer. Whoever answers copies the value into the reply's `<replyAttribute>`;
the value proves the reply belongs to a request this RequestReply sent (nobody else can seal an id under
its key) and says which request.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12  # Go's cipher.NewGCM standard nonce size
KEY_BYTES = 32  # the reconciler makes AES-256 keys


class MalformedReplyId(ValueError):
    """A reply id that cannot be checked (Knative's VerifyReplyId returns an error for these)."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def correlation_id(event_id: str, key: bytes, index: int) -> str:
    """The value SetCorrelationId writes: the id, the id sealed under `key` with a fresh nonce, the index."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, event_id.encode(), None)
    return f"{event_id}:{base64.urlsafe_b64encode(sealed).decode()}:{index}"


def split(reply_id: str) -> tuple[str, str, str]:
    parts = reply_id.split(":")
    if len(parts) != 3:
        raise MalformedReplyId(f"expected three parts in the replyid attribute, had {len(parts)}")
    return parts[0], parts[1], parts[2]


def verify(reply_id: str, key: bytes) -> bool:
    """Whether `reply_id` was sealed under `key` for the id it names (VerifyReplyId); MalformedReplyId when it
    cannot be read at all."""
    original, sealed_text, _ = split(reply_id)
    try:
        sealed = base64.urlsafe_b64decode(sealed_text.encode())
    except (binascii.Error, ValueError) as err:
        raise MalformedReplyId(f"failed to decode base64 data in replyid: {err}") from err
    if len(sealed) < NONCE_BYTES:
        raise MalformedReplyId("the encrypted data is too short to be valid")
    try:
        opened = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None)
    except (InvalidTag, ValueError) as err:
        raise MalformedReplyId(f"failed to decrypt the data: {err}") from err
    return opened.decode(errors="replace") == original


def verify_any(reply_id: str, keys: list[bytes]) -> bool:
    """Whether any of `keys` sealed `reply_id` (a malformed id is simply not valid)."""
    for key in keys:
        try:
            if verify(reply_id, key):
                return True
        except MalformedReplyId:
            continue
    return False


def index_of(reply_id: str) -> int | None:
    """The replica index a reply id names, None when it has none."""
    try:
        return int(split(reply_id)[2])
    except (MalformedReplyId, ValueError):
        return None
