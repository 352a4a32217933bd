"""reports/html/index.html: kproof's own page from JUnit results, badges and load reports; Allure's report
from a real allure-pytest run where Allure 3 is installed; load attachments only where Allure records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kproof import allure_report, report, slo
from kproof.html_report import write_html_report, write_summary_page
from tests.report_sample import FAILURE, ROOT, allure_3, load_result, run_sample

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="conformance.api.test_crud" name="test_create" time="0.5"/>
  <testcase classname="conformance.api.test_crud" name="test_validate" time="0.25">
    <failure message="AssertionError: expected &lt;422&gt;, got 200">def test_validate():
&gt;       assert response.status == 422
E       AssertionError: expected &lt;422&gt;, got 200</failure></testcase>
  <testcase classname="conformance.serving.test_routes" name="test_split" time="1"/>
  <testcase classname="conformance.gpu.test_gpu" name="test_one_request_per_gpu" time="0">
    <skipped message="no gpu"/></testcase>
  <testcase classname="load.test_scenarios" name="test_steady" time="20"/>
</testsuite></testsuites>
"""


needs_allure = pytest.mark.skipif(allure_3() is None, reason="Allure 3's CLI is not installed (npm install -g allure)")


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    """A reports folder as `kproof run` leaves it: junit.xml, badges/, load/steady/."""
    (tmp_path / "junit.xml").write_text(JUNIT)
    report.write_badges(report.read_junit(tmp_path / "junit.xml"), tmp_path / "badges")
    load_result(tmp_path / "load" / "steady")
    return tmp_path


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_sample(tmp_path_factory.mktemp("sample"))


def test_the_summary_page_shows_each_area_its_failures_and_the_load_chart(hand_made: Path) -> None:
    results = report.read_junit(hand_made / "junit.xml")
    index = write_summary_page(hand_made, hand_made / "html", results, reason="Allure 3 is not installed")
    page = index.read_text()
    for area in ("api", "serving", "gpu", "load"):
        assert f'data-area="{area}"' in page
    assert "conformance.api.test_crud::test_validate" in page
    assert "expected &lt;422&gt;, got 200" in page and "<422>" not in page  # escaped, not markup
    assert page.count('src="data:image/svg+xml;base64,') == 5  # four areas and the whole run
    assert 'src="data:image/png;base64,' in page and "steady" in page
    assert "321" in page and "455.5" in page  # requests and p95 from summary.json
    assert "npm install -g allure" in page
    # self-contained: nothing fetched from anywhere
    assert "<script" not in page and 'src="http' not in page and "<link" not in page


def test_the_page_states_the_verdict_each_areas_levels_and_the_slo_checks(hand_made: Path) -> None:
    junit = (hand_made / "junit.xml").read_text().replace(
        'name="test_create" time="0.5"/>', 'name="test_create" time="0.5"><properties>'
        '<property name="spec.level" value="MUST"/></properties></testcase>')
    (hand_made / "junit.xml").write_text(junit)
    check = slo.Check(slo.Threshold("scale from zero, 25 Services, P95", "scale-from-zero-25", "latency.p95",
                                    "knative/serving scale-from-zero/main.go", error=2.0), 6.43, "s", "error")
    slo.write([check], hand_made)
    page = write_summary_page(hand_made, hand_made / "html", report.read_junit(hand_made / "junit.xml"),
                              name="conformance.html").read_text()
    assert "conformant: every MUST that applied passed (MUST 1/1)" in page
    assert "<td>MUST 1/1</td>" in page
    assert 'data-status="error"' in page and "6.43 s" in page and "scale from zero, 25 Services, P95" in page


def test_without_allure_the_page_is_kproofs_and_says_how_to_get_allure(
        hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allure_report.ALLURE_ENV, str(hand_made / "no-such-allure"))
    written = write_html_report(hand_made)
    assert written.kind == "kproof" and written.index == hand_made / "html" / "index.html"
    assert f"${allure_report.ALLURE_ENV} ({hand_made / 'no-such-allure'}) is not a program" in written.reason
    assert "npm install -g allure" in written.describe() and "bash scripts/setup.sh" in written.describe()
    assert 'data-area="api"' in written.index.read_text()


def test_with_no_allure_on_path_the_page_says_it_is_not_installed(
        hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(allure_report.ALLURE_ENV, raising=False)
    monkeypatch.setenv("PATH", str(hand_made))  # a folder with no allure in it
    written = write_html_report(hand_made)
    assert written.kind == "kproof" and written.reason.startswith("Allure 3 is not installed")


@needs_allure
def test_allure_renders_a_real_run_into_one_file(sample_run: Path) -> None:
    written = write_html_report(sample_run)
    assert written.kind == "allure", written.reason
    html = sample_run / "html"
    assert written.index == html / "index.html" and written.index.stat().st_size > 100_000
    page = written.index.read_text()
    assert "<title> kproof conformance </title>" in page
    assert "googletagmanager" not in page  # the report makes no call out when opened
    assert not (html / "data").exists()  # single-file: nothing to fetch beside it, so it opens from file://


@needs_allure
def test_when_allure_cannot_render_the_page_is_kproofs_with_the_reason(hand_made: Path) -> None:
    (hand_made / "allure-results").mkdir()  # no results: nothing for Allure to render
    written = write_html_report(hand_made)
    assert written.kind == "kproof" and "no test results" in written.reason
    assert 'data-area="load"' in written.index.read_text()


def test_a_load_test_attaches_its_chart_and_statistics_to_its_allure_result(sample_run: Path) -> None:
    results = [json.loads(p.read_text()) for p in (sample_run / "allure-results").glob("*-result.json")]
    load_test = next(r for r in results if r["name"] == "test_steady_load_scales_out")
    attached = {a["name"]: a for a in load_test["attachments"]}
    assert set(attached) == {"steady chart.png", "steady replicas.csv", "steady locust_stats.csv",
                             "steady summary.json"}
    assert attached["steady chart.png"]["type"] == "image/png"
    chart = sample_run / "allure-results" / attached["steady chart.png"]["source"]
    assert chart.read_bytes() == (sample_run / "load" / "steady" / "chart.png").read_bytes()
    failed = next(r for r in results if r["name"] == "test_a_field_is_validated")
    assert failed["status"] == "failed" and FAILURE in failed["statusDetails"]["message"]


def test_attaching_outside_an_allure_run_does_nothing_and_imports_nothing(tmp_path: Path) -> None:
    load_result(tmp_path / "steady")
    script = f"""
import sys
from pathlib import Path
from kproof.allure_attach import attach_load_report, attach_text, reporting
assert attach_load_report(Path({str(tmp_path / "steady")!r})) == []
assert attach_text("text", "name") is False and reporting() is False
assert "allure" not in sys.modules and "allure_commons" not in sys.modules, "allure was imported"
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
