import pytest

from reference.apiserver import patch
from reference.apiserver.errors import ApiError


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}
    result = patch.merge_patch(target, {"a": "z", "c": {"f": None}, "list": [3], "new": {"x": 1}})
    assert result == {"a": "z", "c": {"d": "e"}, "list": [3], "new": {"x": 1}}
    assert target["c"] == {"d": "e", "f": "g"}, "the target is not modified"


def test_json_patch() -> None:
    assert patch.json_patch({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}]) == {"a": [1, 2]}
    with pytest.raises(ApiError) as err:
        patch.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert err.value.code == 422


def test_strategic_merge_patch_merges_containers_by_name() -> None:
    live = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}
    result = patch.strategic_merge_patch(live, {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}],
        "containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "1"}, {"$patch": "delete", "name": "a"}],
    }})
    assert result == {"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "1"}]}}


def test_strategic_merge_patch_directives() -> None:
    live = {"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
            "volume": {"emptyDir": {}, "name": "v"}}
    result = patch.strategic_merge_patch(live, {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"], "labels": {"y": None}},
        "volume": {"$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}, "emptyDir": None},
    })
    assert result["metadata"] == {"finalizers": ["b", "c"], "labels": {"x": "1"}}
    assert result["volume"] == {"name": "v", "configMap": {"name": "cm"}}
    assert patch.strategic_merge_patch({"m": {"a": 1}}, {"m": {"$patch": "replace", "b": 2}}) == {"m": {"b": 2}}


def test_apply_removes_fields_the_manager_stopped_applying() -> None:
    applied = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    first = patch.apply(None, applied, "me", "v1")
    assert first["data"] == {"a": "1", "b": "2"}
    first["data"]["other"] = "kept"  # written by someone else
    second = patch.apply(first, {**applied, "data": {"a": "3"}}, "me", "v1")
    assert second["data"] == {"a": "3", "other": "kept"}
    managers = [(m["manager"], m["operation"]) for m in second["metadata"]["managedFields"]]
    assert managers == [("me", "Apply")]


def test_apply_needs_a_field_manager() -> None:
    with pytest.raises(ApiError) as err:
        patch.apply(None, {"metadata": {"name": "x"}}, "", "v1")
    assert err.value.code == 400
