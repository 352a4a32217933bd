"""The TLS listener's certificates: a KIngress's `tls` entries name, for their hosts, a Secret of type
kubernetes.io/tls (`tls.crt`, `tls.key`); the listener picks the certificate by the client's SNI, as
Kourier's Envoy does with one filter chain per SNI match. A host without a certificate gets no handshake."""

from __future__ import annotations

import base64
import contextlib
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

Key = tuple[str, str]
ALPN = ["h2", "http/1.1"]  # HTTP/2 (gRPC) and HTTP/1.1 over TLS: the sniffer tells them apart by the preface


class Certificates:
    def __init__(self, scratch: Path, hosts: Callable[[], dict[str, Key]]) -> None:
        self.scratch = scratch  # where a key and certificate sit while OpenSSL reads them (files only)
        self.hosts = hosts  # SNI host -> the Secret of its certificate
        self.secrets: dict[Key, dict] = {}
        self._contexts: dict[Key, tuple[str, ssl.SSLContext | str]] = {}  # by resourceVersion; str: its problem

    def set_secret(self, kind: str, secret: dict, old: dict | None = None) -> None:
        meta = secret["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        self._contexts.pop(key, None)
        if kind == "DELETED":
            self.secrets.pop(key, None)
        else:
            self.secrets[key] = secret

    def _context(self, key: Key) -> ssl.SSLContext | str:
        """The server context of a Secret's certificate, or why there is none."""
        secret = self.secrets.get(key)
        if secret is None:
            return f"Secret {key[0]}/{key[1]} not found"
        version = secret["metadata"].get("resourceVersion") or ""
        cached = self._contexts.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        data = secret.get("data") or {}
        context: ssl.SSLContext | str
        try:
            context = server_context(base64.b64decode(data.get("tls.crt") or ""),
                                     base64.b64decode(data.get("tls.key") or ""), self.scratch)
        except (ssl.SSLError, ValueError, OSError) as error:
            context = f"Secret {key[0]}/{key[1]} holds no valid certificate and key: {error}"
        self._contexts[key] = (version, context)
        return context

    def problem(self, key: Key) -> str | None:
        context = self._context(key)
        return context if isinstance(context, str) else None

    def listener_context(self) -> ssl.SSLContext:
        """The TLS listener's context: it only chooses, by SNI, the context of the host's certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_alpn_protocols(ALPN)
        context.sni_callback = self._choose
        return context

    def _choose(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> int | None:
        secret = self.hosts().get((server_name or "").lower())
        chosen = self._context(secret) if secret is not None else None
        if not isinstance(chosen, ssl.SSLContext):
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        connection.context = chosen
        return None


def server_context(certificate: bytes, key: bytes, scratch: Path) -> ssl.SSLContext:
    """A server context of a PEM certificate chain and key (OpenSSL reads them from files: written 0600 to
    `scratch` and removed at once)."""
    if not certificate or not key:
        raise ValueError("tls.crt or tls.key is empty")
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(ALPN)
    with tempfile.NamedTemporaryFile(dir=scratch, suffix=".pem") as pem:  # mode 0600
        pem.write(certificate + b"\n" + key)
        pem.flush()
        with contextlib.suppress(OSError):
            Path(pem.name).chmod(0o600)
        context.load_cert_chain(pem.name)
    return context
