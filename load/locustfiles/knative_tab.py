"""A "Knative" tab in Locust's web UI, for every kproof scenario (common.py imports this module).

With `--kubeconfig` and `--service` (`kproof load --web` passes them), the master (or the only process)
samples the Service twice a second while a test runs (load/knative.py: ready and desired replicas, panic
mode, the activator's queue). Locust's own extension points show it: an extended tab with a table of the
latest samples (its data rides on /stats/requests), the CSV under "Download Data"; Locust's extended tabs
render tables only, so a chart of the whole run (knative/chart) is shown under the table as well.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import gevent
from flask import Response, jsonify, request
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from kproof.target import Target
from load.knative import SAMPLE_SECONDS, KnativeReader, SampleLog, chart_svg, default_metrics

logger = logging.getLogger(__name__)

TAB = "knative"
TABLE_ROWS = 10  # the newest samples, shown newest first
MAX_SAMPLES_PER_RUN = 48 * 3600  # a day at two a second: the sampler stops even if a test never does
TABLE = [{"key": "time", "title": "Time (UTC)"}, {"key": "seconds", "title": "Seconds"},
         {"key": "ready", "title": "Ready replicas"}, {"key": "desired", "title": "Desired replicas"},
         {"key": "panic", "title": "Panic mode"}, {"key": "queue", "title": "Activator queue"}]
CHART_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Knative: {service}</title>
<style>body {{ margin: 0; font-family: sans-serif; background: #fff }} img {{ max-width: 100%; }}</style></head>
<body><img id="chart" src="chart.svg" alt="ready and desired replicas, panic mode and the activator's queue">
<script>setInterval(() => {{ document.getElementById("chart").src = "chart.svg?" + Date.now(); }}, 2000);</script>
</body></html>
"""
# Shows the chart right under the Knative tab's table, in the tab's panel (React leaves a node it did not make
# alone, and drops it with the panel when another tab is chosen); outside the tab the chart stops loading.
TAB_SCRIPT = """(() => {
  const chart = document.createElement("iframe");
  chart.id = "kproof-knative-chart";
  chart.title = "Knative chart";
  chart.style.cssText = "display: block; width: 100%; height: 400px; margin-top: 16px; border: 0";
  setInterval(() => {
    if (new URLSearchParams(location.search).get("tab") !== "knative") {
      chart.remove();
      chart.removeAttribute("src");
      return;
    }
    const table = document.querySelector("table");
    const anchor = table ? table.closest(".MuiTableContainer-root") || table : null;
    if (anchor && anchor.nextSibling !== chart) anchor.after(chart);
    if (!anchor && !chart.isConnected) document.body.append(chart);
    if (!chart.src) chart.src = "./knative/chart";
  }, 500);
})();
"""


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--kubeconfig", default=os.environ.get("KPROOF_KUBECONFIG", ""), include_in_web_ui=False,
                        help="the platform's kubeconfig, for the Knative tab of the web UI")
    parser.add_argument("--service", default=os.environ.get("KPROOF_SERVICE", ""), include_in_web_ui=False,
                        help="the Knative Service the Knative tab watches")
    parser.add_argument("--namespace", default=os.environ.get("KPROOF_NAMESPACE", "default"),
                        include_in_web_ui=False, help="the Service's namespace")
    parser.add_argument("--knative-metrics", default=os.environ.get("KPROOF_KNATIVE_METRICS", ""),
                        include_in_web_ui=False,
                        help="comma-separated metrics endpoints for panic mode and the activator's queue (URLs, or "
                             "API server paths); default: the reference's data plane, else Knative's autoscaler "
                             "and activator through the API server's service proxy")


class KnativeTab:
    """The tab's samples, its sampler greenlet and its routes on the web UI's Flask app."""

    def __init__(self, environment: Environment, reader: KnativeReader) -> None:
        self.environment = environment
        self.reader = reader
        self.log = SampleLog()
        self._sampler: gevent.Greenlet | None = None
        self._chart: tuple[tuple[int, float], str] | None = None  # (what was drawn, the SVG)

    def start(self, **_: object) -> None:
        if self._sampler is None or self._sampler.dead:
            self._sampler = gevent.spawn(self._sample)

    def stop(self, **_: object) -> None:
        if self._sampler is not None:
            self._sampler.kill(block=False)
            self._sampler = None

    def _sample(self) -> None:
        for _ in range(MAX_SAMPLES_PER_RUN):
            started = time.monotonic()
            try:
                self.log.add(self.reader.read())
            except Exception:  # a lost sample never stops the tab, nor the test
                logger.debug("Knative sample failed", exc_info=True)
            gevent.sleep(max(0.05, SAMPLE_SECONDS - (time.monotonic() - started)))

    def install(self) -> None:
        web_ui = self.environment.web_ui
        assert web_ui is not None
        hooks = self.environment.events
        hooks.test_start.add_listener(self.start)
        hooks.test_stop.add_listener(self.stop)
        hooks.reset_stats.add_listener(self.log.clear)
        web_ui.template_args.update(
            extended_tabs=[{"key": TAB, "title": "Knative"}],
            extended_tables=[{"key": TAB, "structure": TABLE}],
            extended_csv_files=[{"href": "./knative/csv", "title": "Download Knative CSV (replicas, panic mode, "
                                                                    "activator queue)"},
                                {"href": "./knative/chart", "title": "Knative chart"}])
        base = (getattr(self.environment.parsed_options, "web_base_path", "") or "").rstrip("/")
        guarded = web_ui.auth_required_if_enabled
        app = web_ui.app
        app.add_url_rule(f"{base}/knative/samples", "knative_samples", guarded(self.samples))
        app.add_url_rule(f"{base}/knative/csv", "knative_csv", guarded(self.csv))
        app.add_url_rule(f"{base}/knative/chart", "knative_chart", guarded(self.chart_page))
        app.add_url_rule(f"{base}/knative/chart.svg", "knative_chart_svg", guarded(self.chart))
        app.add_url_rule(f"{base}/knative/tab.js", "knative_tab_js", guarded(self.script))
        app.after_request(self._extend)

    def samples(self) -> Response:
        return jsonify({"service": self.reader.service, "namespace": self.reader.namespace,
                        "metrics": self.reader.metrics, "samples": self.log.rows()})

    def csv(self) -> Response:
        name = f"knative_{self.reader.service}_{int(time.time())}.csv"
        return Response(self.log.csv(), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment;filename={name}"})

    def chart_page(self) -> Response:
        return Response(CHART_PAGE.format(service=self.reader.service), mimetype="text/html")

    def chart(self) -> Response:
        samples = list(self.log.samples)
        drawn = (len(samples), samples[-1].time if samples else 0.0)
        if self._chart is None or self._chart[0] != drawn:  # drawn again only when there is something new
            self._chart = drawn, chart_svg(samples, f"{self.reader.namespace}/{self.reader.service}")
        return Response(self._chart[1], mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})

    def script(self) -> Response:
        return Response(TAB_SCRIPT, mimetype="text/javascript")

    def _extend(self, response: Response) -> Response:
        """The table's rows ride on Locust's own stats poll; the index page gets the chart's script."""
        if request.path.endswith("/stats/requests") and response.is_json:
            data = response.get_json()
            rows = self.log.rows(TABLE_ROWS)[::-1]
            data["extended_stats"] = [*data.get("extended_stats", []), {"key": TAB, "data": rows}]
            response.set_data(json.dumps(data))
        elif request.endpoint == "locust.index" and response.mimetype == "text/html" and response.status_code == 200:
            page = response.get_data(as_text=True)
            response.set_data(page.replace("</body>", '<script src="./knative/tab.js"></script></body>', 1))
        return response


@events.init.add_listener
def _on_init(environment: Environment, **_: object) -> None:
    options = environment.parsed_options
    kubeconfig = getattr(options, "kubeconfig", "")
    service = getattr(options, "service", "")
    if environment.web_ui is None or isinstance(environment.runner, WorkerRunner) or not (kubeconfig and service):
        return
    sources = getattr(options, "knative_metrics", "")
    metrics = [s.strip() for s in sources.split(",") if s.strip()] if sources else default_metrics(Path(kubeconfig))
    reader = KnativeReader(Target(kubeconfig=Path(kubeconfig)), service, getattr(options, "namespace", "default"),
                           metrics)
    KnativeTab(environment, reader).install()
