"""Discovery: every kind the seeds use is served, with Knative's short names."""

from __future__ import annotations

import pytest

from conformance.api.manifests import KIND_CASES, skip_unless_served
from kproof.target import Target


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#rbac-profile and "
                  "knative/specs eventing/control-plane.md#rbac-profile: the resources are served by the Kubernetes "
                  "API (discovery lists them)")
@pytest.mark.parametrize("case", KIND_CASES, ids=lambda c: c.id)
def test_kind_is_discoverable(target: Target, case) -> None:
    skip_unless_served(target, case)
    resource = target.resource(case.api_version, case.kind)
    assert resource.namespaced == case.namespaced
    assert {"create", "get", "list", "watch", "patch", "delete"} <= set(resource.verbs)


@pytest.mark.spec("SHOULD", "stable", source="Knative's CRDs (config/core/resources): shortNames ksvc, kservice, "
                  "rev, rt, cfg, ...")
@pytest.mark.parametrize(("api_version", "kind", "short"), [
    ("serving.knative.dev/v1", "Service", "ksvc"),
    ("serving.knative.dev/v1", "Revision", "rev"),
    ("serving.knative.dev/v1", "Route", "rt"),
    ("serving.knative.dev/v1", "Configuration", "config"),
    ("autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler", "kpa"),
    ("messaging.knative.dev/v1", "InMemoryChannel", "imc"),
    ("v1", "Service", "svc"),
])
def test_short_names(target: Target, api_version: str, kind: str, short: str) -> None:
    assert short in target.resource(api_version, kind).short_names


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): discovery at /api and /apis")
def test_api_root_lists_the_groups(target: Target) -> None:
    groups = {g["name"] for g in target.raw("GET", "/apis").json()["groups"]}
    assert {"serving.knative.dev", "eventing.knative.dev", "messaging.knative.dev",
            "sources.knative.dev", "autoscaling.internal.knative.dev"} <= groups
    assert "v1" in target.raw("GET", "/api").json()["versions"]


@pytest.mark.spec("SHOULD", "stable", source="Knative's CRDs (config/core/resources): `subresources: status` on "
                  "every kind")
def test_status_subresources_are_served(target: Target) -> None:
    resources = target.raw("GET", "/apis/serving.knative.dev/v1").json()["resources"]
    names = {r["name"] for r in resources}
    assert {"services/status", "revisions/status", "routes/status", "configurations/status"} <= names
