"""Sender identity as Knative Eventing uses it: ServiceAccount tokens the API server signs (TokenRequest,
OIDC discovery), the audiences and OIDC service-account names Knative derives from objects, and the
EventPolicy checks the ingresses make (reference.auth.policy)."""
