"""`kproof upstream-tests`' verdicts: go test -json read into per-package counts, the table, the summary, and
gotestsum's JUnit conversion of the same events."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from kproof.cluster.build import BuildCache
from kproof.upstream import results
from kproof.upstream.runner import gotestsum_command, ingress_cases, rekt_not_run, rekt_tests
from kproof.upstream.suites import GOTESTSUM

PKG = "knative.dev/serving/test/conformance/api/v1"
OTHER = "knative.dev/eventing/test/rekt"


def event(action: str, test: str = "", output: str = "", package: str = PKG, elapsed: float = 0.1) -> str:
    body = {"Time": "2026-12-07T11:14:46Z", "Action": action, "Package": package}
    if test:
        body["Test"] = test
    if output:
        body["Output"] = output
    if action in ("pass", "fail", "skip"):
        body["Elapsed"] = elapsed
    return json.dumps(body)


EVENTS = [
    event("start"),
    event("run", "TestOk"), event("output", "TestOk", "=== RUN   TestOk\n"), event("pass", "TestOk"),
    event("run", "TestBroken"), event("output", "TestBroken", "=== RUN   TestBroken\n"),
    event("output", "TestBroken", "    volumes_test.go:68: Failed to create configmap: boom\n"),
    event("output", "TestBroken", "--- FAIL: TestBroken (0.10s)\n"), event("fail", "TestBroken"),
    event("run", "TestSkipped"), event("output", "TestSkipped", "    errorcondition_test.go:42: Skipping\n"),
    event("skip", "TestSkipped"),
    event("run", "TestParent"), event("run", "TestParent/child"), event("pass", "TestParent/child"),
    event("run", "TestParent/other"), event("skip", "TestParent/other"), event("pass", "TestParent"),
    event("fail"),
    "not json: a line the binary printed before test2json took over",
    event("start", package=OTHER),
    event("run", "TestHung", package=OTHER),
    event("output", "TestHung", "panic: test timed out after 90m0s\n", package=OTHER),
    event("fail", package=OTHER),
]


def test_events_become_verdicts_per_package_and_a_hung_test_fails() -> None:
    found = results.parse_events(EVENTS)
    serving, eventing = found[PKG], found[OTHER]
    assert serving.tests == {"TestOk": "pass", "TestBroken": "fail", "TestSkipped": "skip", "TestParent": "pass"}
    assert serving.subtests == {"TestParent/child": "pass", "TestParent/other": "skip"}
    assert (serving.passed, serving.failed, serving.skipped, serving.pass_rate) == (2, 1, 1, 2 / 3)
    assert not serving.binary_failed  # go test fails the package because a test failed
    assert eventing.tests == {"TestHung": "fail"}  # killed by -test.timeout: no verdict of its own


def test_a_binary_that_failed_without_a_failing_test_is_told_apart() -> None:
    found = results.parse_events([event("start"), event("output", output="flag provided but not defined\n"),
                                  event("fail")])
    assert found[PKG].binary_failed and found[PKG].failed == 0
    assert "the binary failed" in results.table(found.values())[1][0]


def test_the_table_and_summary_give_counts_and_reasons() -> None:
    found = results.parse_events(EVENTS)
    rows = results.table(found.values())
    assert rows[0][:4] == ["package", "passed", "failed", "skipped"]
    assert rows[1] == [PKG, "2", "1", "1", "67%", "1/0/1"]
    assert rows[2] == [OTHER, "0", "1", "0", "0%", "0/0/0"]
    text = results.markdown(rows)
    assert text.splitlines()[1] == "|---|---|---|---|---|---|" and f"| {PKG} | 2 | 1 | 1 |" in text
    summary = results.summary(found.values())
    assert summary[PKG]["tests"]["TestBroken"] == {
        "verdict": "fail", "reason": "volumes_test.go:68: Failed to create configmap: boom"}
    assert summary[PKG]["tests"]["TestOk"] == {"verdict": "pass"}
    assert summary[PKG]["tests"]["TestSkipped"]["reason"] == "errorcondition_test.go:42: Skipping"


def test_rekt_tests_are_read_from_the_covered_files(tmp_path: Path) -> None:
    rekt = tmp_path / "test" / "rekt"
    rekt.mkdir(parents=True)
    for name in ("broker_test.go", "trigger_test.go", "new_trigger_filters_test.go", "channel_test.go",
                 "pingsource_test.go", "container_source_test.go", "sink_binding_test.go",
                 "apiserversource_test.go"):
        (rekt / name).write_text("package rekt\n")
    (rekt / "broker_test.go").write_text("func TestBrokerA(t *testing.T) {\n}\nfunc helper(t *testing.T) {}\n")
    (rekt / "smoke_test.go").write_text("func TestSmoke_Broker(t *testing.T) {}\n"
                                        "func TestSmoke_Sequence(t *testing.T) {}\n")
    assert rekt_tests(tmp_path) == ["TestBrokerA", "TestSmoke_Broker"]
    (rekt / "trigger_test.go").write_text(
        "func TestTriggerTLS(t *testing.T) {\n\tctx, env := global.Environment(eventshub.WithTLS(t))\n}\n"
        "func TestTriggerPlain(t *testing.T) {\n\tctx, env := global.Environment()\n}\n")
    names = rekt_tests(tmp_path)
    assert list(rekt_not_run(tmp_path, names)) == ["TestTriggerTLS"]  # it would exit the binary: left out
    assert "cert-manager" in rekt_not_run(tmp_path, names)["TestTriggerTLS"]


def _gotestsum() -> Path:
    binary = BuildCache().binary(GOTESTSUM, "gotestsum")
    if not BuildCache().cached(GOTESTSUM):
        pytest.skip("gotestsum is not built yet (`kproof upstream-tests --build-only` builds it)")
    return binary


def test_gotestsum_converts_the_events_to_junit(tmp_path: Path) -> None:
    events = tmp_path / "events.json"
    events.write_text("\n".join(line for line in EVENTS if line.startswith("{")) + "\n")
    junit, kept = tmp_path / "out.xml", tmp_path / "kept.json"
    raw = [sys.executable, "-c", "import sys; sys.stdout.write(open(sys.argv[1]).read())", str(events)]
    done = subprocess.run(gotestsum_command(_gotestsum(), junit, kept, raw), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr  # gotestsum passes on the raw command's status
    suites = {s.get("name"): s for s in ET.parse(junit).getroot().iter("testsuite")}
    serving = suites[PKG]
    cases = {c.get("name"): c for c in serving.iter("testcase")}
    assert set(cases) >= {"TestOk", "TestBroken", "TestSkipped", "TestParent", "TestParent/child"}
    assert cases["TestBroken"].find("failure") is not None and cases["TestOk"].find("failure") is None
    assert cases["TestSkipped"].find("skipped") is not None
    assert results.read_json(kept)[PKG].tests == results.parse_events(EVENTS)[PKG].tests


def test_cases_run_by_one_test_are_counted_as_the_package_s_tests(tmp_path: Path) -> None:
    ingress = "knative.dev/networking/test/conformance/ingress"
    lines = [event("run", "TestIngressConformance", package=ingress),
             event("pass", "TestIngressConformance/basics", package=ingress),
             event("pass", "TestIngressConformance/basics/http2", package=ingress),
             event("pass", "TestIngressConformance/visibility/path//foo", package=ingress),
             event("fail", "TestIngressConformance/visibility/path", package=ingress),
             event("fail", "TestIngressConformance", package=ingress), event("fail", package=ingress)]
    result = results.parse_events(lines)[ingress]
    assert (result.passed, result.failed) == (0, 1)  # one top-level test
    run_go = tmp_path / "test" / "conformance" / "ingress" / "run.go"
    run_go.parent.mkdir(parents=True)
    run_go.write_text('var stableTests = map[string]func(t *testing.T){\n\t"basics":       TestBasics,\n'
                      '\t"basics/http2": TestBasicsHTTP2,\n\t"visibility/path": TestVisibilityPath,\n}\n'
                      'var alphaTests = map[string]func(t *testing.T){\n\t"httpoption": TestHTTPOption,\n}\n')
    result.cases = ingress_cases(tmp_path)
    assert result.cases == tuple(f"TestIngressConformance/{n}" for n in ("basics", "basics/http2", "visibility/path",
                                                                         "httpoption"))
    assert (result.passed, result.failed, result.skipped) == (2, 1, 1)  # httpoption never ran
    assert result.pass_rate == 2 / 3 and not result.binary_failed


def test_known_failures_are_told_with_their_reason_and_fail_nothing(tmp_path: Path) -> None:
    from kproof.upstream.runner import Run
    from kproof.upstream.session import KNOWN, known_failures, report
    from kproof.upstream.suites import SUITES

    json_path = tmp_path / "serving-api-v1.json"
    json_path.write_text("\n".join(EVENTS) + "\n")
    run = Run(SUITES[0], json_path, tmp_path / "x.xml", 1)
    said: list[str] = []
    assert report([run], tmp_path, {}, said.append) == 1  # TestBroken is nobody's known failure
    assert "FAILED: " + PKG + ".TestBroken" in said
    said.clear()
    known = {PKG: {"TestBroken": "no configmap here", "TestOk": "was broken"}, OTHER: {"TestHung": "hangs"}}
    assert report([run], tmp_path, {}, said.append, known) == 0
    assert f"known: {PKG}.TestBroken: no configmap here" in said
    assert any(line.startswith("passes now") and line.endswith(".TestOk") for line in said)
    assert (tmp_path / "summary.md").exists() and json.loads((tmp_path / "summary.json").read_text())["packages"]
    assert isinstance(known_failures(KNOWN), dict)  # the shipped list reads
    left_out = replace(run, not_run={"TestNeverRun": "not run: needs cert-manager"})
    report([left_out], tmp_path, {}, said.append, known)
    tests = json.loads((tmp_path / "summary.json").read_text())["packages"][PKG]["tests"]
    assert tests["TestNeverRun"] == {"verdict": "skip", "reason": "not run: needs cert-manager"}


def test_a_package_that_ended_without_a_verdict_was_killed() -> None:
    lines = [event("run", "TestA"), event("pass", "TestA"), event("run", "TestB"),
             event("output", "TestB", "=== RUN   TestB\n")]  # then nothing: test2json itself was killed
    result = results.parse_events(lines)[PKG]
    assert result.tests == {"TestA": "pass", "TestB": "fail"} and result.binary_failed
    assert "the binary failed" in results.table([result])[1][0]
