"""API errors as Kubernetes `Status` objects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_json(self) -> dict:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class ApiError(Exception):
    """An error the API answers with: HTTP code, Kubernetes reason, message and details."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        out = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            out["details"] = self.details
        return out


def resource_name(plural: str, group: str) -> str:
    """How Kubernetes names a resource in messages: `services.serving.knative.dev`, `pods`."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{resource_name(plural, group)} "{name}" not found',
        {"name": name, "group": group, "kind": plural},
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{resource_name(plural, group)} "{name}" already exists',
        {"name": name, "group": group, "kind": plural},
    )


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {resource_name(plural, group)} "{name}": {why}',
        {"name": name, "group": group, "kind": plural},
    )


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, group: str, name: str, causes: list[Cause], summary: str | None = None) -> ApiError:
    """422 Invalid. `summary` replaces the joined causes in the message (webhook-style text)."""
    qualified = f"{kind}.{group}" if group else kind
    if summary is None:
        parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
        summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(
        422, "Invalid", f'{qualified} "{name}" is invalid: {summary}',
        {"name": name, "group": group, "kind": kind, "causes": [c.to_json() for c in causes]},
    )


class StrictDecodingError(ApiError):
    """Unknown fields under fieldValidation=Strict: 400 for create and update (PATCH reports 422)."""

    def __init__(self, kind: str, version: str, fields: list[str]) -> None:
        self.decoding = "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in fields)
        super().__init__(400, "BadRequest",
                         f'{kind} in version "{version}" cannot be handled as a {kind}: {self.decoding}')


def forbidden(plural: str, name: str, why: str, group: str = "") -> ApiError:
    """403 Forbidden, as admission plugins (ResourceQuota, LimitRanger) refuse an object."""
    return ApiError(403, "Forbidden", f'{resource_name(plural, group)} "{name}" is forbidden: {why}',
                    {"name": name, "group": group, "kind": plural})


def forbidden_request(user: str, verb: str, group: str, resource: str, namespace: str, name: str = "") -> ApiError:
    """403 from the authorizer, in kube-apiserver's words."""
    plural = resource.partition("/")[0]
    what = resource_name(plural, group) + (f' "{name}"' if name else "")
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = (f'{what} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group '
               f'"{group}"{scope}')
    details: dict = {"group": group, "kind": plural}
    if name:
        details["name"] = name
    return ApiError(403, "Forbidden", message, details)


def forbidden_path(user: str, verb: str, path: str) -> ApiError:
    return ApiError(403, "Forbidden", f'forbidden: User "{user}" cannot {verb} path "{path}"')


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                    f"accepted media types include: application/json-patch+json, "
                    f"application/merge-patch+json, application/apply-patch+yaml ({content_type})")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
