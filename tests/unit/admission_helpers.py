"""Running admission hooks the way the registry does, with Knative's default config maps."""

from __future__ import annotations

from reference.apiserver.admission.context import Context
from reference.apiserver.bootstrap import CONFIG_MAPS


def context(operation: str = "CREATE", **overrides: dict[str, str]) -> Context:
    """A context reading the bootstrap config maps; `config_features={"k": "v"}` style overrides
    replace keys of `config-features` (underscores for dashes)."""
    configs = {key: dict(data) for key, data in CONFIG_MAPS.items()}
    for name, data in overrides.items():
        for (namespace, cm), values in configs.items():
            if cm == name.replace("_", "-") and namespace == "knative-serving":
                values.update(data)

    def read(namespace: str, name: str) -> dict[str, str]:
        return configs.get((namespace, name), {})

    return Context(operation, "tester", read)
