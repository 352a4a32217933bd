"""A Pod's way to the API server: its ServiceAccount's token (minted, authenticated, refused once the account
is re-made), the files and variables the kubelet gives it, and when it gets none."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.auth.tokens import Signer
from reference.core.apiaccess import ServiceAccountAccess
from reference.runtime import credentials
from reference.runtime.credentials import PodApiAccess


def test_a_minted_token_is_its_account_until_the_account_is_made_again() -> None:
    registry = Registry(Store())
    bootstrap(registry)
    accounts = registry.kinds.require("", "v1", "serviceaccounts")
    namespaces = registry.kinds.require("", "v1", "namespaces")
    registry.create(namespaces, "", {"metadata": {"name": "t"}})
    registry.create(accounts, "t", {"metadata": {"name": "sink"}})
    access = ServiceAccountAccess(registry, Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    token = access.mint("t", "sink")
    assert token is not None and access.authenticate(token) == "system:serviceaccount:t:sink"
    assert access.mint("t", "nobody") is None
    assert access.authenticate("not.a.token") is None and access.authenticate("plain") is None
    registry.delete(accounts, "t", "sink", {})
    registry.create(accounts, "t", {"metadata": {"name": "sink"}})
    assert access.authenticate(token) is None  # another account of the same name: the old token is void
    assert not access.authorize("system:serviceaccount:t:sink", "get", "", "pods", "t", "")  # no Role bound


def test_the_kubelet_gives_the_token_ca_namespace_and_the_kubernetes_service(tmp_path: Path) -> None:
    access = PodApiAccess("10.88.0.1", 6443, b"CA", lambda namespace, account: f"{namespace}/{account}")
    env = access.env()
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("10.88.0.1", "6443")
    assert env["KUBERNETES_PORT"] == "tcp://10.88.0.1:6443"
    written = access.write(tmp_path / "sa", "t", "the-token")
    assert {p.name: p.read_bytes() for p in written.iterdir()} == {
        "token": b"the-token", "ca.crt": b"CA", "namespace": b"t"}
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in written.iterdir())


def test_which_pods_get_a_token_and_whose() -> None:
    pod: dict = {"spec": {"containers": [{"name": "c"}]}}
    assert credentials.account_of(pod) == "default" and credentials.automounts(pod, None)
    assert credentials.account_of({"spec": {"serviceAccountName": "sink"}}) == "sink"
    assert not credentials.automounts(pod, {"automountServiceAccountToken": False})  # the account says no
    own = {"spec": {"automountServiceAccountToken": True, "containers": []}}
    assert credentials.automounts(own, {"automountServiceAccountToken": False})  # the Pod's own word wins
    mounted = {"spec": {"containers": [{"volumeMounts": [{"mountPath": credentials.MOUNT_PATH + "/"}]}]}}
    assert not credentials.automounts(mounted, None)  # something of its own is mounted there
