"""SLO thresholds on a run's measurements: the defaults (fixtures/slo/knative.yaml) name their sources, a check
is ok, a warning, an error or not measured, and a run whose measurement is above an error level exits 1 with
the value shown. The scale-from-zero measurement runs for 1, 5 and 25 Services on the reference and is checked
against Knative's thresholds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kproof import slo
from kproof.measure import ConditionLatency, percentiles, pod_left_out

ROOT = Path(__file__).resolve().parents[1]


def kproof(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kproof", *map(str, args)], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)


def test_the_default_thresholds_name_their_sources_and_hold_knatives_figures() -> None:
    thresholds = {t.name: t for t in slo.load()}
    assert all(t.source and (t.warning is not None or t.error is not None) for t in thresholds.values())
    assert all(t.note for t in thresholds.values() if not t.confirmed), "an unconfirmed figure says why"
    assert all(t.error is None for t in thresholds.values() if not t.confirmed), "and is a warning only"
    p95 = thresholds["scale from zero, 25 Services, P95"]
    assert (p95.error, p95.confirmed) == (2.0, True) and "scale-from-zero/main.go" in p95.source
    assert thresholds["scale from zero, 25 Services, max"].error == 5.0
    assert thresholds["pod start-up, ContainersReady P99"].warning == 5.0
    assert {t.measurement for t in thresholds.values()} >= {"pod-startup", "revision-ready", "scale-from-zero-1",
                                                           "scale-from-zero-5", "scale-from-zero-25"}


def test_a_check_is_ok_a_warning_an_error_or_not_measured() -> None:
    threshold = slo.Threshold("p95", "m", "latency.p95", "a source", warning=1.0, error=2.0)
    def status(value: float) -> str:
        return slo.evaluate([threshold], {"m": {"unit": "s", "values": {"latency": {"p95": value}}}})[0].status
    assert [status(0.5), status(1.5), status(2.5)] == ["ok", "warning", "error"]
    (absent,) = slo.evaluate([threshold], {})
    assert absent.status == "not measured" and not slo.failed([absent])
    (error,) = slo.evaluate([threshold], {"m": {"unit": "s", "values": {"latency": {"p95": 3}}}})
    assert error.describe() == "p95: 3 s, above the error level 2 s" and slo.failed([error])


@pytest.mark.parametrize(("text", "problem"), [
    ("thresholds: {}", "no `thresholds:` list"),
    ("thresholds:\n- {name: a, measurement: m, value: v, source: s}", "thresholds[0]: needs a warning or an error"),
    ("thresholds:\n- {name: a, measurement: m, value: v, source: s, error: soon}", "thresholds[0].error: a number"),
    ("thresholds:\n- {name: a, measurement: m, value: v, error: 1}", "thresholds[0].source: a non-empty string"),
])
def test_a_thresholds_file_kproof_cannot_read_names_the_entry(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(slo.ThresholdsError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        slo.load(tmp_path / "t.yaml")


def test_pod_latency_counts_schedulable_stateless_pods_per_condition() -> None:
    latency = ConditionLatency(("PodScheduled", "Ready"), since=0, left_out=pod_left_out)

    def pod(uid: str, ready: str, **extra: object) -> dict:
        return {"metadata": {"uid": uid, "namespace": "t", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "status": {"conditions": [{"type": "PodScheduled", "status": "True",
                                           "lastTransitionTime": "2026-01-01T00:00:00Z"},
                                          {"type": "Ready", "status": "True", "lastTransitionTime": ready}]}, **extra}

    for index in range(10):
        latency.observe(pod(f"p{index}", f"2026-01-01T00:00:0{index}Z"))
    latency.observe(pod("gpu", "2026-01-01T00:01:00Z", spec={"volumes": [{"name": "m", "persistentVolumeClaim": {}}]}))
    latency.observe({**pod("kube", "2026-01-01T00:01:00Z"), "metadata": {"uid": "k", "namespace": "kube-system",
                                                                         "creationTimestamp": "2026-01-01T00:00:00Z"}})
    summary = latency.summary()
    assert summary["Ready"] == percentiles([float(i) for i in range(10)]) and summary["Ready"]["p50"] == 4.5
    assert summary["PodScheduled"]["max"] == 0.0 and latency.left_out_counts() == {"stateful": 1}


def test_a_threshold_set_to_fail_makes_the_run_exit_1_with_the_value(tmp_path: Path) -> None:
    thresholds = tmp_path / "failing.yaml"
    thresholds.write_text("thresholds:\n- name: scale from zero, 1 Service, P95\n  measurement: scale-from-zero-1\n"
                          "  value: latency.p95\n  error: 0.001\n  source: a test's own, set to fail\n")
    reports = tmp_path / "reports"
    run = kproof("run", "--profile", "performance", "--focus", r"\[1\]", "--slo", thresholds, "--reports", reports)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "an SLO check is above its error level" in run.stdout and "0 test(s) failed" not in run.stdout
    (check,) = json.loads((reports / "slo.json").read_text())
    assert check["status"] == "error" and check["measured"] > 0.001
    assert check["text"] == f"scale from zero, 1 Service, P95: {check['measured']:g} s, above the error level 0.001 s"
    shown = kproof("results", next(reports.glob("kproof-results-*.tar.gz")))
    assert shown.returncode == 1 and f"SLO error: {check['text']}" in shown.stdout
    page = (reports / "html" / "conformance.html")
    page = page if page.exists() else reports / "html" / "index.html"
    assert 'data-status="error"' in page.read_text()


def test_scale_from_zero_of_1_5_and_25_services_is_checked_against_knatives_thresholds(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run = kproof("run", "--profile", "performance", "--reports", reports)
    checks = {c["name"]: c for c in json.loads((reports / "slo.json").read_text())}
    for count in (1, 5, 25):
        measurement = json.loads((reports / "measurements" / f"scale-from-zero-{count}.json").read_text())
        assert measurement["values"]["latency"]["count"] == count and measurement["values"]["errors"] == 0
        assert len(measurement["services"]) == count
        p95 = checks[f"scale from zero, {count} Service{'s' if count > 1 else ''}, P95"]
        assert p95["measured"] == measurement["values"]["latency"]["p95"] and p95["status"] != "not measured"
    # the run's exit status follows its checks: 1 where one is above its error level (as on a small machine)
    errors = [c["text"] for c in checks.values() if c["status"] == "error"]
    assert run.returncode == (1 if errors else 0), run.stdout + run.stderr
    print(f"scale from zero on this machine: {[checks[n]['text'] for n in checks if 'scale from zero' in n]}")
