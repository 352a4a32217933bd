import json

import pytest

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Options, Registry
from reference.apiserver.store import Store


@pytest.fixture
def registry() -> Registry:
    reg = Registry(Store())
    bootstrap(reg)
    return reg


def kind(registry: Registry, plural: str, group: str = "", version: str = "v1"):
    return registry.kinds.by_path(group, version, plural)


def ksvc_kind(registry: Registry):
    return kind(registry, "services", "serving.knative.dev")


def ksvc(name: str = "hello", **spec: object) -> dict:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [{"image": "gcr.io/knative-samples/helloworld-go"}],
                                           **spec}}}}


def test_bootstrap_creates_knative_namespaces_and_config(registry: Registry) -> None:
    assert registry.read_config("knative-serving", "config-autoscaler")["stable-window"] == "60s"
    assert registry.read_config("knative-serving", "config-domain") == {"example.com": ""}
    names = [json.loads(t)["metadata"]["name"] for t in registry.list(kind(registry, "namespaces"), None)[0]]
    assert {"default", "knative-serving", "knative-eventing"} <= set(names)


def test_invalid_object_is_422_with_causes(registry: Registry) -> None:
    with pytest.raises(ApiError) as err:
        registry.create(ksvc_kind(registry), "default", ksvc(containerConcurrency=1001))
    assert err.value.code == 422 and err.value.reason == "Invalid"
    status = err.value.status()
    # Knative's webhook's words, as a cluster answers them (there as a 400 BadRequest)
    assert status["message"] == ('admission webhook "validation.webhook.serving.knative.dev" denied the request: '
                                 "validation failed: expected 0 <= 1001 <= 1000: "
                                 "spec.template.spec.containerConcurrency")
    assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "field":
                                            "spec.template.spec.containerConcurrency",
                                            "message": "expected 0 <= 1001 <= 1000"}]
    assert registry.store.get(ksvc_kind(registry).resource, "default", "hello") is None


def test_wrong_type_is_422(registry: Registry) -> None:
    with pytest.raises(ApiError) as err:
        registry.create(ksvc_kind(registry), "default", ksvc(containerConcurrency="many"))
    assert err.value.code == 422
    assert err.value.details["causes"][0]["field"] == "spec.template.spec.containerConcurrency"
    assert "must be of type integer" in err.value.message


def test_strict_unknown_fields_are_400_and_warn_drops_them(registry: Registry) -> None:
    body = ksvc()
    body["spec"]["surprise"] = True
    with pytest.raises(ApiError) as err:
        registry.create(ksvc_kind(registry), "default", body, Options(field_validation="Strict"))
    assert err.value.code == 400 and 'unknown field "spec.surprise"' in err.value.message
    opts = Options(field_validation="Warn")
    created = registry.create(ksvc_kind(registry), "default", body, opts)
    assert "surprise" not in created["spec"]
    assert opts.warnings == ['unknown field "spec.surprise"']


def test_unknown_namespace_is_404(registry: Registry) -> None:
    with pytest.raises(ApiError) as err:
        registry.create(ksvc_kind(registry), "nowhere", ksvc())
    assert err.value.code == 404 and err.value.message == 'namespaces "nowhere" not found'


def test_status_updates_do_not_bump_generation(registry: Registry) -> None:
    k = ksvc_kind(registry)
    created = registry.create(k, "default", ksvc())
    created["status"] = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}
    updated = registry.update(k, "default", "hello", created, subresource="status")
    assert updated["metadata"]["generation"] == 1
    assert updated["status"]["conditions"][0]["status"] == "True"
    updated["spec"]["template"]["spec"]["containerConcurrency"] = 2
    updated["status"] = {}
    changed = registry.update(k, "default", "hello", updated)
    assert changed["metadata"]["generation"] == 2
    assert changed["status"]["conditions"][0]["status"] == "True", "main-resource writes keep status"


def test_update_needs_the_current_version_for_custom_resources(registry: Registry) -> None:
    k = ksvc_kind(registry)
    created = registry.create(k, "default", ksvc())
    del created["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as err:
        registry.update(k, "default", "hello", created)
    assert err.value.code == 422


def test_finalizers_hold_deletion_until_removed(registry: Registry) -> None:
    cm = kind(registry, "configmaps")
    registry.create(cm, "default", {"metadata": {"name": "held", "finalizers": ["kproof.dev/test"]}})
    pending = registry.delete(cm, "default", "held")
    assert pending["metadata"]["deletionTimestamp"]
    assert registry.store.get(cm.resource, "default", "held") is not None
    pending["metadata"]["finalizers"] = []
    registry.update(cm, "default", "held", pending)
    assert registry.store.get(cm.resource, "default", "held") is None


def test_cascading_delete_follows_owner_references(registry: Registry) -> None:
    k = ksvc_kind(registry)
    cm = kind(registry, "configmaps")
    owner = registry.create(k, "default", ksvc())
    ref = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "hello",
           "uid": owner["metadata"]["uid"]}
    child = registry.create(cm, "default", {"metadata": {"name": "child", "ownerReferences": [ref]}})
    child_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "child", "uid": child["metadata"]["uid"]}
    registry.create(cm, "default", {"metadata": {"name": "grandchild", "ownerReferences": [child_ref]}})
    registry.delete(k, "default", "hello")
    assert registry.store.get(cm.resource, "default", "child") is None
    assert registry.store.get(cm.resource, "default", "grandchild") is None


def test_merge_patch_and_apply_patch(registry: Registry) -> None:
    k = ksvc_kind(registry)
    registry.create(k, "default", ksvc())
    patched = registry.patch(k, "default", "hello", "application/merge-patch+json",
                             b'{"spec":{"template":{"spec":{"containerConcurrency":1}}}}')
    assert patched["spec"]["template"]["spec"]["containerConcurrency"] == 1
    assert patched["metadata"]["generation"] == 2
    with pytest.raises(ApiError) as err:
        registry.patch(k, "default", "hello", "application/strategic-merge-patch+json", b"{}")
    assert err.value.code == 415
    applied = registry.patch(k, "default", "new", "application/apply-patch+yaml",
                             json.dumps(ksvc("new")).encode(), Options(field_manager="me"))
    assert applied["metadata"]["name"] == "new" and applied["metadata"]["managedFields"][0]["manager"] == "me"


def test_strict_patch_with_unknown_fields_is_422_on_the_patch(registry: Registry) -> None:
    k = ksvc_kind(registry)
    registry.create(k, "default", ksvc())
    with pytest.raises(ApiError) as err:
        registry.patch(k, "default", "hello", "application/merge-patch+json", b'{"spec":{"surprise":1}}',
                       Options(field_validation="Strict"))
    assert err.value.code == 422
    assert err.value.details["causes"][0]["field"] == "patch"
    assert 'strict decoding error: unknown field "spec.surprise"' in err.value.message


def test_bound_pods_are_deleted_gracefully(registry: Registry) -> None:
    pods = kind(registry, "pods")
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n", "terminationGracePeriodSeconds": 7,
                                               "containers": [{"name": "c", "image": "i"}]}}
    registry.create(pods, "default", pod)
    pending = registry.delete(pods, "default", "p")
    assert pending["metadata"]["deletionGracePeriodSeconds"] == 7
    pending["status"] = {"phase": "Running"}
    registry.update(pods, "default", "p", pending, subresource="status")
    assert registry.store.get(pods.resource, "default", "p") is not None, "a status write does not finish it"
    registry.delete(pods, "default", "p", {"gracePeriodSeconds": 0})
    assert registry.store.get(pods.resource, "default", "p") is None


def test_unbound_pods_are_deleted_at_once(registry: Registry) -> None:
    pods = kind(registry, "pods")
    registry.create(pods, "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c",
                                                                                            "image": "i"}]}})
    registry.delete(pods, "default", "p")
    assert registry.store.get(pods.resource, "default", "p") is None
