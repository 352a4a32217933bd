"""What `kproof run` would run: every conformance test carries a spec marker (a test without one fails
collection), the profiles, the level and state filters, focus and skip, `--list` and `kproof images`. Nothing
here starts a target: it is all collection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from kproof import pytest_target, spec
from kproof.images import images_of
from kproof.profiles import PROFILES, Selection, area_of
from kproof.run import RunOptions, collect, listing

ROOT = Path(__file__).resolve().parents[1]
AREAS = {"api", "serving", "autoscaling", "eventing", "sources", "gpu", "ai", "pipeline"}


def kproof(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kproof", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


@pytest.fixture(scope="module")
def everything() -> list[dict]:
    return collect(RunOptions(profile="full"))


def test_every_conformance_test_has_a_level_a_state_and_a_source(everything: list[dict]) -> None:
    conformance = [t for t in everything if t["nodeid"].startswith("conformance/")]
    assert len(conformance) > 250
    for test in conformance:
        assert test["level"] in spec.LEVELS and test["state"] in spec.STATES and test["source"], test


def test_the_levels_are_told_honestly_apart(everything: list[dict]) -> None:
    """Not every test is a MUST: seeds' practices are SHOULD, kproof's own promises never MUST."""
    levels = {level: [t for t in everything if t["level"] == level] for level in spec.LEVELS}
    assert all(levels.values()), {level: len(tests) for level, tests in levels.items()}
    assert not [t for t in levels["MUST"] if t["source"] == spec.KPROOF or t["source"].startswith("seed ")]
    assert all(t["level"] != "MUST" for t in everything if t["source"].startswith("seed "))


class FakeItem:
    """What the collection check reads of a pytest item."""

    def __init__(self, path: Path, marks: list[pytest.Mark]) -> None:
        self.path = path
        self.nodeid = f"{path.relative_to(ROOT)}::test_x"
        self.marks = marks
        self.user_properties: list[tuple[str, str]] = []

    def iter_markers(self, name: str) -> list[pytest.Mark]:
        return [m for m in self.marks if m.name == name]

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return next(iter(self.iter_markers(name)), None)

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.marks.append(marker.mark)


def _config(**options: object) -> SimpleNamespace:
    values = {"--kproof-profile": "full", "--kproof-level": None, "--kproof-state": None, "--kproof-focus": [],
              "--kproof-skip": [], **options}
    return SimpleNamespace(getoption=values.__getitem__, hook=SimpleNamespace(pytest_deselected=lambda items: None))


def test_a_conformance_test_without_a_spec_marker_fails_collection() -> None:
    item = FakeItem(ROOT / "conformance" / "api" / "test_new.py", [])
    with pytest.raises(pytest.UsageError, match=r"conformance/api/test_new.py::test_x: a conformance test needs "):
        pytest_target.pytest_collection_modifyitems(_config(), [item])


@pytest.mark.parametrize(("args", "problem"), [
    (("SHOUD", "stable"), "level must be one of MUST, SHOULD, MAY, not 'SHOUD'"),
    (("MUST", "ga"), "state must be one of stable, beta, alpha, not 'ga'"),
    (("MUST", "stable"), 'needs source="..."'),
])
def test_a_malformed_spec_marker_fails_collection_naming_the_problem(args: tuple, problem: str) -> None:
    item = FakeItem(ROOT / "conformance" / "api" / "test_new.py", [pytest.mark.spec(*args).mark])
    with pytest.raises(pytest.UsageError) as refused:
        pytest_target.pytest_collection_modifyitems(_config(), [item])
    assert problem in str(refused.value)


def test_a_test_outside_conformance_needs_no_marker_and_a_spec_becomes_junit_properties() -> None:
    tool = FakeItem(ROOT / "load" / "test_tool.py", [])
    marked = FakeItem(ROOT / "load" / "test_measure.py", [pytest.mark.spec("MUST", "stable", source="s").mark])
    items = [tool, marked]
    pytest_target.pytest_collection_modifyitems(_config(), items)
    assert items == [tool, marked]
    assert marked.user_properties == [("spec.level", "MUST"), ("spec.state", "stable"), ("spec.source", "s")]


def test_the_selection_keeps_by_profile_level_state_focus_and_skip() -> None:
    must = spec.Spec("MUST", "stable", "s")
    may = spec.Spec("MAY", "alpha", "s")
    assert Selection(PROFILES["conformance"]).keeps("conformance/a/test_x.py::t", must, False)
    assert not Selection(PROFILES["conformance"]).keeps("conformance/a/test_x.py::t", may, False)
    assert not Selection(PROFILES["conformance"]).keeps("load/test_x.py::t", None, False), "no load"
    assert not Selection(PROFILES["quick"]).keeps("conformance/a/test_x.py::t", must, False)
    assert Selection(PROFILES["quick"]).keeps("conformance/a/test_x.py::t", must, True)
    assert not Selection(states=("stable",)).keeps("n", may, False)
    assert Selection(levels=("MAY",)).keeps("n", may, False)
    assert Selection(focus=("test_x",), skip=("::u",)).keeps("conformance/a/test_x.py::t", must, False)
    assert not Selection(focus=("test_x",), skip=("::t",)).keeps("conformance/a/test_x.py::t", must, False)


def test_the_quick_profile_runs_one_test_of_each_areas_main_promise() -> None:
    quick = collect(RunOptions(profile="quick"))
    files = {t["nodeid"].split("::")[0] for t in quick}
    assert {area_of(t["nodeid"]) for t in quick} == AREAS
    assert len(files) == len(AREAS), "one test (with its parameters) per area"
    assert all(t["quick"] for t in quick)


def test_the_conformance_profile_is_every_must_and_should_and_no_load(everything: list[dict]) -> None:
    chosen = collect(RunOptions(profile="conformance"))
    expected = [t["nodeid"] for t in everything if t["nodeid"].startswith("conformance/")
                and t["level"] in ("MUST", "SHOULD")]
    assert [t["nodeid"] for t in chosen] == expected


def test_list_prints_level_state_and_capabilities_and_runs_nothing(tmp_path: Path) -> None:
    listed = kproof("run", "--list", "--profile", "quick", "--level", "must", "--reports", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["LEVEL", "STATE", "TEST", "[requires]"]
    gpu = next(line for line in lines if "conformance/gpu/" in line)
    assert gpu.startswith("MUST    stable  ") and gpu.endswith("[requires gpu]")
    assert not [line for line in lines[1:-1] if not line.startswith("MUST ")]
    assert lines[-1].startswith(f"{len(lines) - 2} tests: MUST {len(lines) - 2}, SHOULD 0, MAY 0")
    assert not any(tmp_path.iterdir()), "--list writes no reports"


def test_focus_skip_and_state_narrow_the_list() -> None:
    focused = kproof("run", "--list", "--focus", r"test_crud\.py", "--skip", r"\[(Pod|Secret)\]",
                     "--state", "stable")
    tests = [line.split()[2] for line in focused.stdout.splitlines()[1:-1]]
    assert tests and all("conformance/api/test_crud.py::" in t for t in tests)
    assert not [t for t in tests if t.endswith(("[Pod]", "[Secret]"))]
    alpha = kproof("run", "--list", "--state", "alpha")
    assert all(line.split()[1] == "alpha" for line in alpha.stdout.splitlines()[1:-1])


def test_a_bad_level_is_a_usage_error() -> None:
    refused = kproof("run", "--list", "--level", "must,could")
    assert refused.returncode == 2 and "argument --level: levels are MUST, SHOULD, MAY" in refused.stderr


def test_images_lists_what_the_quick_profile_needs() -> None:
    listed = kproof("images", "--profile", "quick")
    assert listed.returncode == 0, listed.stderr
    images = set(listed.stdout.split())
    # serving's helloworld, the eventing bench's recorder, the GPU seed's model image, seed 002's sentiment image,
    # the api area's helloworld sample
    assert {"ghcr.io/kproof/helloworld", "ghcr.io/kproof/recorder", "mihaitodor/benthos-vader:latest",
            "registry.cn-hangzhou.aliyuncs.com/ai-samples/bert-intent-detection:1.0.1",
            "gcr.io/knative-samples/helloworld-go"} <= images, images
    mirrored = kproof("images", "--profile", "quick", "--app-registry", "registry.local/kproof")
    assert "registry.local/kproof/helloworld" in mirrored.stdout.split()


def test_images_follow_support_modules_conftests_and_manifests() -> None:
    found = images_of([ROOT / "conformance" / "serving" / "test_containment.py",
                       ROOT / "conformance" / "eventing" / "test_channels.py",
                       ROOT / "conformance" / "ai" / "test_seed_001.py"])
    assert "docker.io/library/python:3.11-slim" in found  # a module constant used as "image"
    assert "ghcr.io/kproof/recorder" in found  # the eventing bench's conftest
    assert "ghcr.io/kproof/models" in found  # the shared fixture the test uses (conformance/fixtures.py)
    # seed 001's manifest, named by its path under fixtures/manifests
    assert "registry.cn-hangzhou.aliyuncs.com/ai-samples/bert-intent-detection:1.0.1" in found


def test_the_docs_list_the_conformance_profile() -> None:
    """docs/conformance/conformance-profile.md shows `kproof run --list --profile conformance` as the suite is."""
    page = (ROOT / "docs" / "conformance" / "conformance-profile.md").read_text()
    shown = page.split("```text\n", 1)[1].split("\n```", 1)[0].splitlines()
    expected = listing(collect(RunOptions(profile="conformance")))
    assert shown == expected, ("the page is out of date: replace its text block with the output of "
                               "`python3 -m kproof run --list --profile conformance`")
