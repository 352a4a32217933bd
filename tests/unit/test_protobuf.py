"""Kubernetes' protobuf bodies decode to the JSON of the same object (fixtures written by client-go's own
serializer: kproof/cluster/go/upstream-tests/protofixtures)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from reference.apiserver.protobuf import ProtobufError, decode

FIXTURES = json.loads((Path(__file__).parent / "k8s_protobuf.json").read_text())


def _without_nulls(value: object) -> object:
    """encoding/json writes a zero metav1.Time as null; the API server reads null and absent alike."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
def test_protobuf_decodes_to_the_objects_json(fixture: dict) -> None:
    assert decode(base64.b64decode(fixture["protobuf"])) == _without_nulls(fixture["json"])


def test_pointer_zero_values_are_kept_and_plain_zero_values_omitted() -> None:
    pod = decode(base64.b64decode(next(f["protobuf"] for f in FIXTURES if f["name"] == "pod")))
    container = pod["spec"]["containers"][0]
    assert container["securityContext"] == {"runAsUser": 0, "readOnlyRootFilesystem": False}
    assert pod["spec"]["terminationGracePeriodSeconds"] == 0
    assert "initialDelaySeconds" not in container["livenessProbe"]  # a plain int32 with omitempty


@pytest.mark.parametrize("body", [b"{}", b"k8s\x00\x0a\x05", b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Nobody"])
def test_bodies_that_are_not_known_protobuf_objects_are_refused(body: bytes) -> None:
    with pytest.raises(ProtobufError):
        decode(body)
