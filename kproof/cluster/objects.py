"""The objects kproof adds to the cluster besides Knative: the DNS Service (CoreDNS runs on the host, so its
EndpointSlice is kproof's, not the endpointslice controller's), the ingress's namespace, and the RBAC of
CoreDNS and of the ingress (which publishes the Services that front it itself)."""

from __future__ import annotations

from kproof.cluster.pki import COREDNS, INGRESS
from kproof.cluster.state import DNS_SERVICE_IP, SYSTEM_NAMESPACE

MANAGED_BY = "kproof.dev"  # not the endpointslice controller's: it leaves these slices alone
READ = ["get", "list", "watch"]


def _host_service(namespace: str, name: str, address: str, ports: list[dict], cluster_ip: str | None = None,
                  labels: dict | None = None) -> list[dict]:
    """A Service without selector whose one endpoint is a host process listening on `address`."""
    spec: dict = {"ports": [{key: port[key] for key in ("name", "port", "protocol")} | {"targetPort": port["target"]}
                            for port in ports]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "spec": spec},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": f"{name}-kproof", "namespace": namespace,
                      "labels": {"kubernetes.io/service-name": name,
                                 "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
         "addressType": "IPv4",
         # the slice's ports are the endpoint's (targetPort), named as the Service's
         "ports": [{"name": port["name"], "port": port["target"], "protocol": port["protocol"]} for port in ports],
         "endpoints": [{"addresses": [address], "conditions": {"ready": True}}]},
    ]


def _reader(name: str, user: str, rules: list[dict]) -> list[dict]:
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]},
    ]


def cluster_objects(gateway: str) -> list[dict]:
    dns_ports = [{"name": "dns", "port": 53, "protocol": "UDP", "target": 53},
                 {"name": "dns-tcp", "port": 53, "protocol": "TCP", "target": 53}]
    return [
        *_host_service("kube-system", "kube-dns", gateway, dns_ports, DNS_SERVICE_IP,
                       {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}},
        # what kubeadm grants CoreDNS (system:coredns)
        *_reader("kproof:coredns", COREDNS.user, [
            {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
             "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]),
        # the KIngress implementation: read Ingresses and where they route, write their status
        *_reader("kproof:ingress", INGRESS.user, [
            {"apiGroups": ["networking.internal.knative.dev"], "resources": ["ingresses"],
             "verbs": [*READ, "update", "patch"]},
            {"apiGroups": ["networking.internal.knative.dev"], "resources": ["ingresses/status"],
             "verbs": ["get", "update", "patch"]},
            {"apiGroups": [""], "resources": ["services", "secrets", "endpoints"], "verbs": READ},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
            # config-network and config-observability, where Knative's networking settings live
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": READ},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
            # it publishes the Services that front it (--publish-address) in its own namespace
            {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [SYSTEM_NAMESPACE],
             "verbs": ["get", "patch"]}]),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "kproof:ingress", "namespace": SYSTEM_NAMESPACE},
         "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": [*READ, "create", "patch", "update"]},
                   {"apiGroups": [""], "resources": ["services/status"], "verbs": ["get", "patch", "update"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                    "verbs": [*READ, "create", "patch", "update", "delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "kproof:ingress", "namespace": SYSTEM_NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kproof:ingress"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": INGRESS.user}]},
    ]
