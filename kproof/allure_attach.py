"""Attachments to the running test's Allure result: a no-op (not even an import) unless allure-pytest is
writing results, so the load runner can call it from the CLI too."""

from __future__ import annotations

import sys
from pathlib import Path

# A load scenario's files and how Allure shows each (attachment type names of allure_commons).
LOAD_FILES = (("chart.png", "PNG"), ("replicas.csv", "CSV"), ("locust_stats.csv", "CSV"), ("summary.json", "JSON"))


def reporting() -> bool:
    """Whether allure-pytest records this process's tests (pytest with --alluredir)."""
    commons = sys.modules.get("allure_commons")
    if commons is None:  # allure-pytest imports it when pytest loads the plugin
        return False
    return bool(commons.plugin_manager.hook.attach_file.get_hookimpls())


def attach_file(path: Path, name: str, kind: str = "TEXT") -> bool:
    """Attaches a file to the running test (`kind`: an allure AttachmentType name); False when not recorded."""
    if not reporting() or not path.is_file():
        return False
    import allure

    allure.attach.file(str(path), name=name, attachment_type=getattr(allure.attachment_type, kind))
    return True


def attach_text(text: str, name: str) -> bool:
    if not reporting():
        return False
    import allure

    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)
    return True


def attach_load_report(directory: Path) -> list[str]:
    """A load scenario's chart, replica timeline and Locust statistics, named after the scenario."""
    if not reporting():
        return []
    prefix = directory.name
    return [file for file, kind in LOAD_FILES
            if attach_file(directory / file, f"{prefix} {file}", kind)]
