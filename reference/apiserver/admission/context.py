"""What admission hooks see: the operation, the user, and Knative's config maps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reference.apiserver.admission.fielderror import FieldError

# The config maps Knative reads its settings from, with Knative's defaults.
SERVING_NAMESPACE = "knative-serving"
EVENTING_NAMESPACE = "knative-eventing"


@dataclass(frozen=True)
class Context:
    operation: str  # CREATE or UPDATE
    user: str
    # (namespace, configmap name) -> its data, {} when absent
    read_config: Callable[[str, str], dict[str, str]]
    # store resource ("/services") -> its stored objects, read-only: for what is allocated from a shared
    # range, as the API server allocates cluster IPs and node ports
    objects: Callable[[str], list[dict]] = field(default=lambda resource: [])

    def serving_config(self, name: str) -> dict[str, str]:
        return self.read_config(SERVING_NAMESPACE, name)

    def eventing_config(self, name: str) -> dict[str, str]:
        return self.read_config(EVENTING_NAMESPACE, name)


class Forbidden(Exception):
    """An admission plugin refuses the object outright (ResourceQuota, LimitRanger): 403, not 422."""

    def __init__(self, plural: str, name: str, why: str) -> None:
        super().__init__(why)
        self.plural, self.name, self.why = plural, name, why


# (object, the stored object on update or None, context); defaulters change the object in place.
Defaulter = Callable[[dict, "dict | None", Context], None]
Validator = Callable[[dict, "dict | None", Context], "FieldError | None"]
