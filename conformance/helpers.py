"""Small helpers shared by the conformance tests."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes.dynamic.exceptions import DynamicApiError

from kproof.target import Target


def log(capsys: pytest.CaptureFixture, text: str) -> None:
    """A figure that belongs in the CI log, passing or not (pytest captures plain prints)."""
    with capsys.disabled():
        print(text)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def refused(call: Callable[[], object]) -> DynamicApiError:
    """Runs a call the API must refuse; returns the error it raised."""
    try:
        call()
    except DynamicApiError as err:
        return err
    pytest.fail("the API accepted a request it must refuse")


def status_of(err: DynamicApiError) -> dict:
    """The Kubernetes Status object in an error response."""
    try:
        return json.loads(err.body)
    except (TypeError, ValueError):
        return {"message": str(err.body)}


def assert_invalid(err: DynamicApiError, field: str) -> None:
    """A refused manifest names the offending field. Knative's webhooks answer 400 through a real API
    server; the reference answers 422 Invalid with the field in details.causes."""
    status = status_of(err)
    assert err.status in (400, 422), f"expected 400 or 422, got {err.status}: {status}"
    assert field in status.get("message", ""), f"{field!r} not named in: {status.get('message')}"
    if err.status == 422:
        fields = [c.get("field", "") for c in status.get("details", {}).get("causes", [])]
        assert any(field in f or f in field for f in fields if f), f"{field!r} not in causes {fields}"


def eventually(check: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    """Polls `check` until it returns something truthy; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {timeout}s")
        time.sleep(interval)


@contextlib.contextmanager
def restoring_config(target: Target, namespace: str, name: str) -> Iterator[dict]:
    """A platform ConfigMap the test may change; afterwards it is put back as it was (a shared cluster
    must not notice the test)."""
    original = target.get("v1", "ConfigMap", name, namespace)
    assert original is not None, f"{namespace}/{name} exists from the start"
    try:
        yield original
    finally:
        current = target.get("v1", "ConfigMap", name, namespace)
        target.replace({**original, "metadata": {**original["metadata"],
                                                 "resourceVersion": current["metadata"]["resourceVersion"]}})
