"""Knative's installation as stored objects (CRDs with their duck labels, aggregated ClusterRoles) and the
SubjectAccessReviews RBAC answers over them."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.auth.tokens import Signer
from reference.core import rbac
from reference.core.apiaccess import ServiceAccountAccess


def registry() -> Registry:
    made = Registry(Store())
    bootstrap(made)
    return made


def test_each_knative_kind_has_a_crd_with_its_duck_labels_scope_and_categories() -> None:
    made = registry()
    crds = made.kinds.require("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    imc = made.get(crds, "", "inmemorychannels.messaging.knative.dev")
    assert imc["spec"]["scope"] == "Namespaced" and "channel" in imc["spec"]["names"]["categories"]
    assert imc["metadata"]["labels"]["messaging.knative.dev/subscribable"] == "true"
    assert imc["metadata"]["labels"]["duck.knative.dev/addressable"] == "true"
    assert [c["type"] for c in imc["status"]["conditions"]] == ["Established", "NamesAccepted"]
    ping = made.get(crds, "", "pingsources.sources.knative.dev")
    assert ping["metadata"]["labels"]["duck.knative.dev/source"] == "true"
    assert {v["name"] for v in ping["spec"]["versions"]} >= {"v1"}
    assert sum(v["storage"] for v in ping["spec"]["versions"]) == 1
    ksvc = made.get(crds, "", "services.serving.knative.dev")
    assert ksvc["metadata"]["labels"]["duck.knative.dev/podspecable"] == "true"
    assert "subscribable" not in str(made.get(crds, "", "brokers.eventing.knative.dev")["metadata"]["labels"])
    bootstrap(made)  # a second start keeps what is there


def test_aggregated_roles_gather_the_labelled_ones_and_reviews_answer_by_them() -> None:
    made = registry()
    bindings = made.kinds.require("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
    accounts = made.kinds.require("", "v1", "serviceaccounts")
    namespaces = made.kinds.require("", "v1", "namespaces")
    made.create(namespaces, "", {"metadata": {"name": "t"}})
    made.create(accounts, "t", {"metadata": {"name": "manipulator"}})
    made.create(bindings, "", {"metadata": {"name": "b"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "channelable-manipulator"},
        "subjects": [{"kind": "ServiceAccount", "name": "manipulator", "namespace": "t"}]})
    user = "system:serviceaccount:t:manipulator"
    roles = made.kinds.require("rbac.authorization.k8s.io", "v1", "clusterroles")
    assert made.get(roles, "", "channelable-manipulator")["rules"] == []  # gathered when read, not stored
    assert rbac.allowed(made.store, user, "patch", "messaging.knative.dev", "inmemorychannels/status", "t")
    assert not rbac.allowed(made.store, user, "get", "eventing.knative.dev", "brokers", "t")
    access = ServiceAccountAccess(made, Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048)))

    def review(verb: str, resource: str, subresource: str = "") -> dict:
        return access.subject_access_review({"spec": {"user": user, "resourceAttributes": {
            "verb": verb, "group": "messaging.knative.dev", "resource": resource, "subresource": subresource,
            "namespace": "t"}}})["status"]

    assert review("delete", "inmemorychannels", "status") == {"allowed": True}
    assert review("get", "subscriptions")["allowed"] is False


def test_an_object_a_sinkbinding_names_is_created_whole() -> None:
    """The binding's mutation changes the pod spec in place: the object keeps the uid and creation time the
    API server gives it (a Deployment without a uid could never be deleted with its namespace)."""
    made = registry()
    namespaces = made.kinds.require("", "v1", "namespaces")
    bindings = made.kinds.require("sources.knative.dev", "v1", "sinkbindings")
    deployments = made.kinds.require("apps", "v1", "deployments")
    made.create(namespaces, "", {"metadata": {"name": "t"}})
    binding = made.create(bindings, "t", {"metadata": {"name": "sb"}, "spec": {
        "subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d1"}, "sink": {"uri": "http://x/"}}})
    made.update(bindings, "t", "sb", {**binding, "status": {"sinkUri": "http://x/"}}, subresource="status")
    created = made.create(deployments, "t", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d1"},
                                             "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
                                                 "metadata": {"labels": {"app": "d"}},
                                                 "spec": {"containers": [{"name": "c", "image": "app"}]}}}})
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    env = created["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "K_SINK", "value": "http://x/"} in env


def test_a_null_in_a_list_of_strings_reads_as_the_empty_string() -> None:
    """`apiGroups: [null]` (a template's empty group) is [""], as Go decodes it for built-in kinds."""
    made = registry()
    roles = made.kinds.require("rbac.authorization.k8s.io", "v1", "clusterroles")
    role = made.create(roles, "", {"metadata": {"name": "r"}, "rules": [
        {"apiGroups": [None, "sources.knative.dev"], "resources": ["events"], "verbs": ["get"]}]})
    assert role["rules"][0]["apiGroups"] == ["", "sources.knative.dev"]
