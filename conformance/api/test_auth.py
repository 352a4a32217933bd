"""Authentication: the API answers only to the credentials in the kubeconfig."""

from __future__ import annotations

import pytest

from kproof.target import Target


@pytest.mark.spec("MUST", "stable", source="Kubernetes authentication "
                  "(kubernetes.io/docs/reference/access-authn-authz/authentication): a request no authenticator "
                  "accepts is refused with 401")
def test_wrong_token_is_unauthorized(target: Target) -> None:
    response = target.raw("GET", "/api/v1/namespaces", token="not-the-token")
    assert response.status_code == 401
    assert response.json()["kind"] == "Status" and response.json()["reason"] == "Unauthorized"


@pytest.mark.spec("MUST", "stable", source="Kubernetes authentication: a request without credentials is refused "
                  "(401, or 403 where anonymous requests are allowed but not authorized)")
def test_no_credentials_are_refused(target: Target) -> None:
    # Clusters that allow anonymous requests answer 403 to the anonymous user instead of 401.
    response = target.raw("GET", "/apis/serving.knative.dev/v1/namespaces/default/services", token="")
    assert response.status_code in (401, 403)


@pytest.mark.spec("MUST", "stable", source="Kubernetes authentication: the kubeconfig's bearer token or client "
                  "certificate authenticates its user")
def test_kubeconfig_credentials_are_accepted(target: Target) -> None:
    assert target.raw("GET", "/api/v1/namespaces/default").status_code == 200
