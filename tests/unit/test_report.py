from pathlib import Path

from kproof.report import conformant, read_junit, summary, summary_markdown, verdict, write_badges

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
    assert "| api | - | 1 | 1 | 0 | failing |" in markdown and "`conformance.api.test_crud::test_b`" in markdown


def test_one_badge_per_area_and_one_overall(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT)
    paths = write_badges(read_junit(tmp_path / "junit.xml"), tmp_path / "badges")
    assert [p.name for p in paths] == ["api.svg", "serving.svg", "conformance.svg"]
    assert "1/2 passed" in (tmp_path / "badges" / "api.svg").read_text()
    assert "2/3 passed" in (tmp_path / "badges" / "conformance.svg").read_text()


LEVELLED = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="conformance.api.test_crud" name="test_a" time="1">
    <properties><property name="spec.level" value="MUST"/><property name="spec.state" value="stable"/></properties>
  </testcase>
  <testcase classname="conformance.api.test_crud" name="test_b" time="1">
    <properties><property name="spec.level" value="SHOULD"/></properties><failure message="no"/></testcase>
  <testcase classname="conformance.api.test_crud" name="test_c" time="1">
    <properties><property name="spec.level" value="MUST"/></properties><skipped message="no gpu"/></testcase>
  <testcase classname="conformance.serving.test_x" name="test_d" time="1">
    <properties><property name="spec.level" value="MAY"/></properties></testcase>
  <testcase classname="load.test_tools" name="test_e" time="1"/>
</testsuite></testsuites>
"""


def test_each_area_counts_passed_of_applied_by_level_and_a_failed_should_keeps_it_conformant(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(LEVELLED)
    results = read_junit(tmp_path / "junit.xml")
    api, load, serving = results
    assert api.conformance == "MUST 1/1, SHOULD 0/1", "the skipped MUST did not apply"
    assert (serving.conformance, load.conformance) == ("MAY 1/1", "-")
    assert conformant(results) and verdict(results) == "conformant: every MUST that applied passed " \
                                                        "(MUST 1/1, SHOULD 0/1, MAY 1/1)"
    written = summary(results)
    assert written["conformant"] is True and written["levels"]["MUST"] == {"passed": 1, "failed": 0, "skipped": 1}
    assert "| api | MUST 1/1, SHOULD 0/1 | 1 | 1 | 1 | failing |" in summary_markdown(results)


def test_a_failed_must_or_no_must_at_all_is_not_conformant(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(LEVELLED.replace('name="test_a" time="1">', 'name="test_a" time="1">'
                                                         '<failure message="broken"/>'))
    results = read_junit(tmp_path / "junit.xml")
    assert not conformant(results) and verdict(results).startswith("not conformant: 1 MUST failed")
    (tmp_path / "junit.xml").write_text(JUNIT)
    assert verdict(read_junit(tmp_path / "junit.xml")).startswith("not conformant: no MUST test ran")
