"""timeoutSeconds bounds the wait for the first byte (504 beyond it); a response whose first byte came in time
is a 200, however it ends (Knative's own conformance checks only that status: Knative also caps the whole
response at timeoutSeconds, the reference does not).

Knative's conformance uses a 10 s timeout with 2 s and 12 s delays and a 15 s stream; shortened here.
"""

from __future__ import annotations

import pytest

from conformance.serving.support import deploy, service
from kproof.target import Target


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#revision: "
                  "timeoutSeconds, \"The maximum duration in seconds that the instance is allowed to respond to a "
                  "request\" (Knative's conformance: timeout_test.go)")
def test_timeouts(target: Target, namespace: str, app_image) -> None:
    deploy(target, service("timeout", namespace, app_image("autoscale"), timeoutSeconds=3))
    fast = target.http("timeout", "/?delay=500", namespace=namespace)
    assert fast.status_code == 200
    slow = target.http("timeout", "/?delay=5000", namespace=namespace)
    assert slow.status_code == 504
    stream = target.http("timeout", "/?stream=5000", namespace=namespace)
    assert stream.status_code == 200
    assert stream.text.startswith("streaming\n")
