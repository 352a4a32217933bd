"""The source tests share the eventing bench (a namespace with recorder Services)."""

from conformance.eventing.conftest import _fresh_triggers, bench  # noqa: F401 - fixtures by name
