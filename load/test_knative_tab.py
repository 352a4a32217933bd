"""The web UI that `kproof load --web` starts has a Knative tab: the Service's ready and desired replicas, panic
mode and the activator's queue while a test runs, a CSV to download and a chart; read over HTTP (with a
master and two workers) and in a real browser (Debian's chromium through Playwright)."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest
import requests

from conformance.helpers import eventually
from conformance.serving.support import deploy, service
from kproof.target import REFERENCE, Target
from load.distributed import free_port

STOP_TIMEOUT = 30


@contextlib.contextmanager
def kproof_web_ui(target: Target, service_name: str, namespace: str, workers: int = 1
                  ) -> Iterator[tuple[str, psutil.Process]]:
    """`kproof load steady --web` on the Service; yields the web UI's address and the kproof process, and stops
    it (it stops its Locust master and workers) after."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kproof", "load", "steady", "--service", service_name, "--namespace", namespace,
         "--kubeconfig", str(target.kubeconfig), "--ingress", str(target.ingress), "--path", "/", "--web",
         "--web-port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    web = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: _answers(web), 60, "serving the web UI")
        yield web, psutil.Process(process.pid)
    finally:
        process.terminate()  # kproof stops the master and its workers before it exits
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("kproof load --web did not stop within its bound")


def _answers(web: str) -> bool:
    try:
        return requests.get(f"{web}/stats/requests", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _stats(web: str) -> dict:
    return requests.get(f"{web}/stats/requests", timeout=5).json()


def _tab_rows(web: str) -> list[dict]:
    return next((t["data"] for t in _stats(web).get("extended_stats") or [] if t["key"] == "knative"), [])


def test_the_knative_tab_reports_live_replicas_and_its_csv_downloads(target: Target, namespace: str,
                                                                      app_image) -> None:
    deploy(target, service("tab", namespace, app_image("helloworld")))
    with kproof_web_ui(target, "tab", namespace, workers=2) as (web, kproof):
        page = requests.get(web, timeout=5).text
        assert '"extended_tabs"' in page and "knative/tab.js" in page, "the tab is declared to Locust's UI"
        eventually(lambda: _stats(web)["worker_count"] == 2, 60, "two workers connected")
        locusts = kproof.children(recursive=True)
        assert sum("--worker" in p.cmdline() for p in locusts) == 2 and len(locusts) == 3, "a master, two workers"
        assert _tab_rows(web) == [], "nothing is sampled before a test starts"
        started = requests.post(f"{web}/swarm", data={"user_count": 2, "spawn_rate": 2, "host": target.ingress},
                                timeout=5)
        assert started.status_code == 200 and started.json()["success"]
        rows = eventually(lambda: [r for r in _tab_rows(web) if r["ready"] != "" and r["ready"] >= 1], 30,
                          "the tab showing ready replicas")
        assert rows[0]["desired"] != "", "the PodAutoscaler's desired scale"
        assert rows[0]["panic"] in ("yes", "no"), "the autoscaler's panic mode, from autoscaler_panic_mode"
        if target.has(REFERENCE):
            assert rows[0]["queue"] != "", "the reference's data plane reports the activator's queue"
        samples = requests.get(f"{web}/knative/samples", timeout=5).json()
        assert (samples["service"], samples["namespace"]) == ("tab", namespace)
        download = requests.get(f"{web}/knative/csv", timeout=5)
        assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in download.headers["Content-Disposition"]
        table = list(csv.DictReader(io.StringIO(download.text)))
        assert len(table) >= len(rows) and any(r["ready"] and int(r["ready"]) >= 1 for r in table)
        chart = requests.get(f"{web}/knative/chart.svg", timeout=30)
        assert chart.status_code == 200 and "<svg" in chart.text
        assert requests.post(f"{web}/stop", timeout=5).status_code == 200
    _, alive = psutil.wait_procs(locusts, timeout=STOP_TIMEOUT)
    assert alive == [], "kproof stopped the master and its workers"


def _chromium() -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian's `chromium` package)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed")
    return chromium


def test_the_knative_tab_shows_live_replicas_in_a_browser(target: Target, namespace: str, app_image) -> None:
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    deploy(target, service("browsed", namespace, app_image("helloworld")))
    with kproof_web_ui(target, "browsed", namespace) as (web, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(web)
            page.locator("input[name=userCount]").fill("2")
            page.locator("input[name=spawnRate]").fill("2")
            page.get_by_role("button", name="Start").click()
            page.get_by_role("tab", name="Knative").click()
            headers = page.locator("table thead th")
            headers.first.wait_for()
            ready_column = headers.all_inner_texts().index("Ready replicas")
            newest_ready = page.locator("table tbody tr").first.locator("td").nth(ready_column)

            def shows_replicas() -> bool:
                text = newest_ready.inner_text(timeout=1000) if newest_ready.count() else ""
                return text.strip().isdigit() and int(text) >= 1

            eventually(shows_replicas, 30, "a live count of ready replicas in the Knative tab")
            chart = page.frame_locator("#kproof-knative-chart").locator("img#chart")
            chart.wait_for(timeout=15000)
            assert page.locator("#kproof-knative-chart").is_visible(), "the chart sits under the tab's table"
        finally:
            browser.close()
