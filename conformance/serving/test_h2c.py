"""A container port named `h2c` makes the platform speak HTTP/2 cleartext to the container; `http1` or no
name, HTTP/1.1. Clients reach such a Service in HTTP/2 with prior knowledge too, gRPC included.

Modelled on Knative's test/conformance/runtime/protocol_test.go (the protocol the container observed, for
each port name) and test/e2e/grpc_test.go and http2_test.go (gRPC's unary and streaming pings, and
HTTP/2 through the ingress). The app answers as Knative's hellohttp2 and grpc-ping images do.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from urllib.parse import urlsplit

import grpc
import httpx
import pytest

from conformance.serving.support import KSVC, READY_TIMEOUT, deploy, service
from kproof.target import Target

PORT_NAMES = {"h2c": "h2c", "http1": "http1", "unnamed": None}
EXPECTED = {"h2c": "HTTP/2.0", "http1": "HTTP/1.1", "unnamed": "HTTP/1.1"}
PING = "/ping.PingService/Ping"
PING_STREAM = "/ping.PingService/PingStream"


def _encode(msg: str) -> bytes:
    """ping.proto's Request: field 1, a string (short enough for a one-byte length)."""
    data = msg.encode()
    assert len(data) < 128
    return b"\x0a" + bytes([len(data)]) + data


def _decode(data: bytes) -> str:
    assert data[:1] == b"\x0a" and data[1] < 128, data  # field 1, a short string
    return data[2:2 + data[1]].decode()


def _protocols_service(name: str, namespace: str, image: str, port_name: str | None) -> dict:
    port = {"containerPort": 8080, **({"name": port_name} if port_name else {})}
    return service(name, namespace, image, ports=[port])


def _ingress(target: Target) -> str:
    """host:port of a plain-HTTP ingress (HTTP/2 with prior knowledge has no TLS to negotiate it)."""
    parts = urlsplit(target.ingress or "")
    if parts.scheme != "http":
        pytest.skip(f"HTTP/2 with prior knowledge needs a plain-HTTP ingress, not {target.ingress!r}")
    return f"{parts.hostname}:{parts.port or 80}"


@pytest.mark.spec("SHOULD", "stable", source="knative/specs serving/runtime-contract.md#protocols-and-ports: a port "
                  "named h2c gets HTTP/2 with prior knowledge, http1 HTTP/1.1 (\"h2c (if supported)\")")
def test_the_container_sees_the_protocol_its_port_names(target: Target, namespace: str, app_image) -> None:
    for case, port_name in PORT_NAMES.items():  # applied together, then each awaited
        target.apply(_protocols_service(case, namespace, app_image("protocols"), port_name))
    for case in PORT_NAMES:
        ready = target.wait_for(*KSVC, case, namespace, timeout=READY_TIMEOUT)
        response = target.http(case, "/", namespace=namespace)
        assert response.status_code == 200
        assert response.text == f"proto={EXPECTED[case]} method=GET path=/\n", case
        revision = ready["status"]["latestReadyRevisionName"]
        autoscaler = target.get("autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler", revision, namespace)
        assert autoscaler["spec"]["protocolType"] == ("h2c" if case == "h2c" else "http1")


def _ping_pong(stream: grpc.StreamStreamMultiCallable, messages: list[str]) -> list[str]:
    """Knative's streaming ping: send one, receive its answer, then the next, on one stream both ways."""
    answered: queue.Queue[str] = queue.Queue()

    def requests() -> Iterator[str]:
        for i, message in enumerate(messages):
            if i:
                answered.get(timeout=60)  # the previous one came back before this one goes
            yield message

    received = []
    for answer in stream(requests(), timeout=120):
        received.append(answer)
        answered.put(answer)
    return received


@pytest.mark.spec("SHOULD", "stable", source="knative/specs serving/runtime-contract.md#protocols-and-ports: \"The "
                  "environment SHOULD offer an HTTP/2.0 upgrade option\"")
def test_an_http2_client_reaches_the_service(target: Target, namespace: str, app_image) -> None:
    ingress = _ingress(target)
    deploy(target, _protocols_service("h2c", namespace, app_image("protocols"), "h2c"))
    host = target.service_host("h2c", namespace)
    with httpx.Client(http1=False, http2=True, timeout=30) as client:  # prior knowledge, as gRPC clients speak
        response = client.get(f"http://{ingress}/hello", headers={"Host": host})
    assert (response.status_code, response.http_version) == (200, "HTTP/2")
    assert response.text == "proto=HTTP/2.0 method=GET path=/hello\n"


@pytest.mark.spec("SHOULD", "stable", source="knative/specs "
                  "serving/knative-api-specification-1.0.md#request-routing: \"If supported ... each HTTP/2 stream "
                  "MUST be treated as a separate request\", gRPC included")
def test_grpc_unary_and_streaming_pings(target: Target, namespace: str, app_image) -> None:
    ingress = _ingress(target)
    deploy(target, _protocols_service("grpc-ping", namespace, app_image("protocols"), "h2c"))
    authority = target.service_host("grpc-ping", namespace)
    with grpc.insecure_channel(ingress, options=[("grpc.default_authority", authority)]) as channel:
        ping = channel.unary_unary(PING, request_serializer=_encode, response_deserializer=_decode)
        assert ping("Hello!", timeout=60, wait_for_ready=True) == "Hello!"
        stream = channel.stream_stream(PING_STREAM, request_serializer=_encode, response_deserializer=_decode)
        assert _ping_pong(stream, [f"This is a short message {i}!" for i in range(3)]) == [
            f"This is a short message {i}!" for i in range(3)]
        missing = channel.unary_unary("/ping.PingService/Missing", request_serializer=_encode,
                                      response_deserializer=_decode)
        with pytest.raises(grpc.RpcError) as failed:
            missing("x", timeout=60)
        assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED
