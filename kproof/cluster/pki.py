"""The cluster's certificates and kubeconfigs, the way kubeadm lays them out: a cluster CA that signs the API
server's serving certificate and one client certificate per component (its user and groups are the
certificate's CN and O), a front-proxy CA for the aggregation layer, and an RSA key pair that signs
service-account tokens. Made new on every `up`, as the cluster is.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kproof.cluster.state import (
    API_PORT,
    CLUSTER_DOMAIN,
    COREDNS_USER,
    INGRESS_USER,
    KUBERNETES_SERVICE_IP,
    NODE_NAME,
    Layout,
)
from reference.host.processes import private_dir, write_private

VALID = datetime.timedelta(days=3650)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Client:
    """A client certificate: the API server takes CN as the user and each O as a group."""

    name: str  # the files' stem: pki/<name>.crt, pki/<name>.key, <name>.kubeconfig
    user: str
    groups: tuple[str, ...] = ()


ADMIN = Client("admin", "kubernetes-admin", ("system:masters",))
CONTROLLER_MANAGER = Client("controller-manager", "system:kube-controller-manager")
SCHEDULER = Client("scheduler", "system:kube-scheduler")
KUBE_PROXY = Client("kube-proxy", "system:kube-proxy")
NODE = Client("node", f"system:node:{NODE_NAME}", ("system:nodes",))
INGRESS = Client("ingress", INGRESS_USER)
COREDNS = Client("coredns", COREDNS_USER)
KUBELET_CLIENT = Client("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",))
CLIENTS = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KUBE_PROXY, NODE, INGRESS, COREDNS, KUBELET_CLIENT)
WITH_KUBECONFIG = (CONTROLLER_MANAGER, SCHEDULER, KUBE_PROXY, NODE, INGRESS, COREDNS)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    return x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Pki:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.dir = layout.pki
        self._now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)

    def path(self, name: str, suffix: str) -> Path:
        return self.dir / f"{name}.{suffix}"

    def _write(self, name: str, key: PrivateKey, certificate: x509.Certificate) -> None:
        write_private(self.path(name, "key"), _key_pem(key).decode())
        write_private(self.path(name, "crt"), certificate.public_bytes(serialization.Encoding.PEM).decode())

    def _ca(self, name: str, common_name: str) -> tuple[PrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name)
        certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(self._now)
            .not_valid_after(self._now + VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
        self._write(name, key, certificate)
        return key, certificate

    def _leaf(self, name: str, ca: tuple[PrivateKey, x509.Certificate], subject: x509.Name, *,
              server: bool = False, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> None:
        ca_key, ca_certificate = ca
        key = ec.generate_private_key(ec.SECP256R1())
        usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(ca_certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self._now).not_valid_after(self._now + VALID)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        self._write(name, key, builder.sign(ca_key, hashes.SHA256()))

    def make(self, gateway: str) -> None:
        """Every key and certificate; the API server's names 127.0.0.1, the gateway (where pods reach it)
        and the `kubernetes` Service's names and ClusterIP."""
        private_dir(self.dir)
        ca = self._ca("ca", "kproof-cluster-ca")
        front_proxy = self._ca("front-proxy-ca", "kproof-cluster-front-proxy-ca")
        service = "kubernetes.default.svc"
        self._leaf("apiserver", ca, _name("kube-apiserver"), server=True,
                   dns=("localhost", "kubernetes", "kubernetes.default", service, f"{service}.{CLUSTER_DOMAIN}"),
                   ips=("127.0.0.1", gateway, KUBERNETES_SERVICE_IP))
        # the node agent's kubelet endpoint, which the API server dials at the node's InternalIP
        self._leaf("kubelet", ca, _name(f"system:node:{NODE_NAME}", ("system:nodes",)), server=True,
                   dns=(NODE_NAME, "localhost"), ips=(gateway, "127.0.0.1"))
        for client in CLIENTS:
            self._leaf(client.name, ca, _name(client.user, client.groups))
        self._leaf("front-proxy-client", front_proxy, _name("front-proxy-client"))
        signer = rsa.generate_private_key(65537, 2048)
        write_private(self.path("sa", "key"), _key_pem(signer).decode())
        write_private(self.path("sa", "pub"), signer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())

    def kubeconfig(self, client: Client, path: Path, server: str = f"https://127.0.0.1:{API_PORT}") -> Path:
        """A kubeconfig that authenticates as `client`, its credentials inline (one file to hand over)."""
        def inline(name: str, suffix: str) -> str:
            return base64.b64encode(self.path(name, suffix).read_bytes()).decode()

        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "kproof-cluster",
                          "cluster": {"server": server, "certificate-authority-data": inline("ca", "crt")}}],
            "users": [{"name": client.name, "user": {"client-certificate-data": inline(client.name, "crt"),
                                                     "client-key-data": inline(client.name, "key")}}],
            "contexts": [{"name": "kproof-cluster", "context": {"cluster": "kproof-cluster", "user": client.name}}],
            "current-context": "kproof-cluster",
        }
        write_private(path, yaml.safe_dump(config, sort_keys=False))
        return path

    def kubeconfigs(self) -> None:
        self.kubeconfig(ADMIN, self.layout.kubeconfig)
        for client in WITH_KUBECONFIG:
            self.kubeconfig(client, self.layout.component_kubeconfig(client.name))
