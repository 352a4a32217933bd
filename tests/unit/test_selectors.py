import pytest

from reference.apiserver.selectors import SelectorError, field_selector, label_selector


def obj(labels: dict | None = None, **fields: object) -> dict:
    return {"metadata": {"name": "n", "namespace": "ns", "labels": labels or {}}, **fields}


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "web"}, True),
    ("app=web", {"app": "db"}, False),
    ("app!=web", {"app": "db"}, True),
    ("app!=web", {}, True),
    ("app", {"app": "x"}, True),
    ("app", {}, False),
    ("!app", {}, True),
    ("!app", {"app": "x"}, False),
    ("tier in (a, b)", {"tier": "b"}, True),
    ("tier in (a,b)", {"tier": "c"}, False),
    ("tier notin (a,b)", {"tier": "c"}, True),
    ("tier notin (a,b)", {}, True),
    ("app=web,tier in (a,b)", {"app": "web", "tier": "a"}, True),
    ("app=web,tier in (a,b)", {"app": "web", "tier": "z"}, False),
    ("replicas>2", {"replicas": "3"}, True),
    ("replicas<2", {"replicas": "3"}, False),
    ("serving.knative.dev/service=hello", {"serving.knative.dev/service": "hello"}, True),
])
def test_label_selector(selector: str, labels: dict, matches: bool) -> None:
    predicate = label_selector(selector)
    assert predicate is not None and predicate(obj(labels)) is matches


def test_empty_selectors_match_everything() -> None:
    assert label_selector("") is None and field_selector(None) is None


@pytest.mark.parametrize("selector", ["a b c", "a in b", "x>y"])
def test_malformed_label_selector(selector: str) -> None:
    with pytest.raises(SelectorError):
        label_selector(selector)


@pytest.mark.parametrize(("selector", "matches"), [
    ("metadata.name=n", True),
    ("metadata.name==n", True),
    ("metadata.name!=n", False),
    ("metadata.namespace=ns,metadata.name=n", True),
    ("involvedObject.kind=Service", True),
    ("involvedObject.kind=Pod", False),
    ("spec.missing=", True),
])
def test_field_selector(selector: str, matches: bool) -> None:
    predicate = field_selector(selector)
    assert predicate is not None
    assert predicate(obj(involvedObject={"kind": "Service"})) is matches
