import pytest

from reference.apiserver import jsonpath
from reference.apiserver.tables import human_duration


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (10 * 3600, "10h"),
    (3 * 86400 + 3600, "3d1h"), (30 * 86400, "30d"), (3 * 365 * 86400, "3y"), (-5, "<invalid>"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_printer_column_paths() -> None:
    obj = {"metadata": {"labels": {"serving.knative.dev/configuration": "hello"}},
           "spec": {"topics": ["a", "b"]},
           "status": {"conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert jsonpath.find(obj, ".status.conditions[?(@.type==\"Ready\")].status") == ["True"]
    assert jsonpath.find(obj, ".status.conditions[?(@.type=='Ready')].status") == ["True"]
    assert jsonpath.find(obj, ".metadata.labels['serving\\.knative\\.dev/configuration']") == ["hello"]
    assert jsonpath.find(obj, ".spec.topics[1]") == ["b"]
    assert jsonpath.find(obj, ".spec.topics[*]") == ["a", "b"]
    assert jsonpath.find(obj, ".status.url") == []
