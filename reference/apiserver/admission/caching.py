"""knative/caching's Image: spec.image is required (pkg/apis/caching/v1alpha1/image_validation.go)."""

from __future__ import annotations

from reference.apiserver.admission.context import Context
from reference.apiserver.admission.fielderror import FieldError, missing_field


def validate_image(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    if not ((obj.get("spec") or {}).get("image") or "").strip():
        return missing_field("spec.image")
    return None
