from pathlib import Path

from kproof.report import read_junit, summary_markdown, write_badges

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="conformance.api.test_crud" name="test_a" file="conformance/api/test_crud.py" time="0.5"/>
  <testcase classname="conformance.api.test_crud" name="test_b" time="0.25"><failure message="boom"/></testcase>
  <testcase classname="conformance.serving.test_x" name="test_c" time="1"><skipped message="no gpu"/></testcase>
  <testcase classname="conformance.serving.test_x" name="test_d" time="1"/>
</testsuite></testsuites>
"""


def test_results_group_by_conformance_area(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT)
    api, serving = read_junit(tmp_path / "junit.xml")
    assert (api.area, api.passed, api.failed, api.skipped, api.status) == ("api", 1, 1, 0, "failing")
    assert api.failures == ["conformance.api.test_crud::test_b"]
    assert (serving.area, serving.passed, serving.skipped, serving.status) == ("serving", 1, 1, "passing")
    markdown = summary_markdown([api, serving])
    assert "| api | 1 | 1 | 0 | failing |" in markdown and "`conformance.api.test_crud::test_b`" in markdown


def test_one_badge_per_area_and_one_overall(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT)
    paths = write_badges(read_junit(tmp_path / "junit.xml"), tmp_path / "badges")
    assert [p.name for p in paths] == ["api.svg", "serving.svg", "conformance.svg"]
    assert "1/2 passed" in (tmp_path / "badges" / "api.svg").read_text()
    assert "2/3 passed" in (tmp_path / "badges" / "conformance.svg").read_text()
