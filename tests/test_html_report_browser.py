"""reports/html/index.html as a person sees it: opened from the file system in headless Chromium (Debian's,
driven by Playwright, no browser download), both kproof's own page and Allure's report of a real run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kproof import allure_report
from kproof.html_report import write_summary_page
from kproof.report import read_junit, write_badges
from tests.report_sample import FAILURE, allure_3, run_sample

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium, or "
                                                         "bash scripts/setup.sh)")
AREAS = ("api", "serving", "load")
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reports = run_sample(tmp_path_factory.mktemp("sample"))
    write_badges(read_junit(reports / "junit.xml"), reports / "badges")
    return reports


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        # Chromium's sandbox refuses to run as root
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert not errors, f"the page's scripts failed: {errors}"


def loaded(image: sync_api.Locator) -> int:
    """The image's natural width once it has loaded (0 for a broken image)."""
    image.wait_for(state="visible")
    return image.evaluate("img => img.decode().then(() => img.naturalWidth, () => 0)")


def test_kproofs_page_shows_every_area_the_failure_and_the_load_chart(sample_run: Path, page: sync_api.Page,
                                                                      tmp_path: Path) -> None:
    index = write_summary_page(sample_run, tmp_path / "html", read_junit(sample_run / "junit.xml"),
                               reason="Allure 3 is not installed")
    page.goto(index.as_uri())
    for area in AREAS:
        sync_api.expect(page.locator(f'tr[data-area="{area}"]')).to_contain_text(area)
        assert loaded(page.locator(f'tr[data-area="{area}"] img.badge')) > 0
    failure = page.locator("details").filter(has_text="test_a_field_is_validated")
    failure.locator("summary").click()
    sync_api.expect(failure.locator("pre")).to_contain_text(FAILURE)
    load = page.locator("#load-steady")
    sync_api.expect(load).to_contain_text("321")
    assert loaded(load.locator("img.chart")) > 0


@pytest.mark.skipif(allure_3() is None, reason="Allure 3's CLI is not installed (npm install -g allure)")
def test_allures_report_opens_from_the_file_system_with_every_area_and_the_load_chart(
        sample_run: Path, page: sync_api.Page, tmp_path: Path) -> None:
    binary = allure_3()
    assert binary is not None
    index = allure_report.generate(sample_run / "allure-results", tmp_path / "html", binary)
    page.goto(index.as_uri())
    for area in AREAS:
        sync_api.expect(page.get_by_text(area, exact=True)).to_be_visible()
    # the load test, in its area's tree, with the chart it attached
    page.get_by_text("load", exact=True).click()
    page.get_by_text("test_sample_load.py", exact=True).click()
    page.get_by_text("test_steady_load_scales_out").click()
    sync_api.expect(page.get_by_text("steady summary.json")).to_be_visible()
    page.get_by_text("steady chart.png").click()
    assert loaded(page.locator('img[alt$=".png"]')) > 0  # Allure names it after the attachment's file
