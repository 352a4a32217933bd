"""ServiceAccounts as callers of the API server: their tokens authenticate them, RBAC decides what they may do.

A token counts when the platform's signing key signed it for the API server's audience (the issuer, as
kube-apiserver's default --api-audiences), it has not expired, and the ServiceAccount it names still exists
with the same uid (a deleted and re-made account's old tokens stop working, as on a cluster). The caller is
then `system:serviceaccount:<namespace>:<name>`, allowed what its Roles and ClusterRoles grant it.

It also answers SubjectAccessReviews (authorization.k8s.io/v1): whether RBAC lets a user do what the review
describes, as kube-apiserver's RBAC authorizer answers them.
"""

from __future__ import annotations

from reference.apiserver.registry import Registry
from reference.apiserver.server import ApiServer
from reference.auth.tokens import InvalidToken, Signer, verify
from reference.core import rbac

# kube-api-access tokens: the kubelet asks for 3607 s and kube-apiserver extends them to a year
# (--service-account-extend-token-expiration), so a long-running pod keeps its access
POD_TOKEN_SECONDS = 365 * 24 * 3600


class ServiceAccountAccess:
    def __init__(self, registry: Registry, signer: Signer) -> None:
        self.registry = registry
        self.signer = signer
        self.accounts = registry.kinds.require("", "v1", "serviceaccounts")
        self._jwks = signer.jwks()

    def authenticate(self, token: str) -> str | None:
        """The ServiceAccount user the token stands for, or None."""
        if token.count(".") != 2:
            return None
        try:
            claims = verify(token, self._jwks, audience=self.signer.issuer, issuer=self.signer.issuer)
        except InvalidToken:
            return None
        private = claims.get("kubernetes.io") or {}
        namespace = private.get("namespace", "")
        account = private.get("serviceaccount") or {}
        stored = self.registry.store.get(self.accounts.resource, namespace, account.get("name", ""))
        if stored is None or stored["metadata"].get("uid") != account.get("uid"):
            return None
        return f"{rbac.SERVICE_ACCOUNT_USER}{namespace}:{account.get('name', '')}"

    def authorize(self, user: str, verb: str, group: str, resource: str, namespace: str, name: str) -> bool:
        return rbac.allowed(self.registry.store, user, verb, group, resource, namespace, name)

    def subject_access_review(self, review: dict) -> dict:
        """The review, answered: status.allowed (and why not)."""
        given = review.get("spec")
        spec = given if isinstance(given, dict) else {}
        user = str(spec.get("user") or "")
        attributes = spec.get("resourceAttributes") or {}
        if attributes:
            resource = str(attributes.get("resource") or "") + (
                f"/{attributes['subresource']}" if attributes.get("subresource") else "")
            allowed = self.authorize(user, str(attributes.get("verb") or ""), str(attributes.get("group") or ""),
                                     resource, str(attributes.get("namespace") or ""),
                                     str(attributes.get("name") or ""))
        else:  # non-resource URLs: the reference's API grants them to no one but itself
            allowed = False
        status: dict = {"allowed": allowed}
        if not allowed:
            status["reason"] = "no RBAC policy matched"
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

    def install(self, api: ApiServer) -> None:
        """Makes the API server authenticate ServiceAccounts, authorize them by RBAC and answer reviews."""
        api.authenticate, api.authorize = self.authenticate, self.authorize
        api.reviews[("authorization.k8s.io", "v1", "subjectaccessreviews")] = self.subject_access_review

    def mint(self, namespace: str, account: str) -> str | None:
        """A token of the ServiceAccount for the API server (what a pod's kube-api-access volume holds)."""
        stored = self.registry.store.get(self.accounts.resource, namespace, account)
        if stored is None:
            return None
        return self.signer.issue(namespace, account, stored["metadata"]["uid"], [self.signer.issuer],
                                 POD_TOKEN_SECONDS).token
