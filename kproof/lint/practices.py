"""Seed 004's practices for AI inference on Knative, as checks of one Service, Configuration or Revision.

Each check takes the document and the options and yields findings; none reads anything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from kproof.lint.rules import Finding, Options, finding
from kproof.lint.workload import (
    DEFAULT_PANIC_WINDOW_PERCENTAGE,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_WINDOW,
    Template,
    annotation,
    container_concurrency,
    gpu_requests,
    metric,
    model_paths,
    model_server_reason,
    mounted_from_volume,
    number,
    revision_template,
    seconds,
    serving_containers,
    uses_kpa,
)
from reference.apiserver.admission import autoscaling

CONTAINER_CONCURRENCY = ("spec", "containerConcurrency")


def _target(template: Template) -> tuple[str, float] | None:
    found = annotation(template, autoscaling.TARGET)
    if not found:
        return None
    value = number(found[1])
    return (found[0], value) if value is not None else None


def gpu_concurrency(template: Template, options: Options) -> Iterator[Finding]:
    gpus = gpu_requests(template)
    cc = container_concurrency(template)
    written = template.spec.get("containerConcurrency") is not None
    if gpus and cc != 1 and (cc is not None or not written):
        shown = "unset (0: unlimited)" if cc is None else str(cc)
        yield finding("KP001", template.at(*CONTAINER_CONCURRENCY),
                      f"the pod asks for a GPU ({', '.join(gpus)}) but containerConcurrency is {shown}: "
                      "set it to 1 unless you measured that the model serves more requests at once")


def gpu_target(template: Template, options: Options) -> Iterator[Finding]:
    gpus = gpu_requests(template)
    target = _target(template)
    if not gpus or not target or metric(template) != "concurrency":
        return
    cc = container_concurrency(template)
    limit = cc if cc and cc > 0 else 1
    if target[1] > limit:
        yield finding("KP002", template.annotation_path(target[0]),
                      f"target {target[1]:g} on a GPU Service is above containerConcurrency {limit}: the autoscaler "
                      f"packs {target[1]:g} requests onto one GPU before it scales out; set target to {limit}")


def gpu_metric(template: Template, options: Options) -> Iterator[Finding]:
    found = annotation(template, autoscaling.METRIC)
    if gpu_requests(template) and found and found[1] != "concurrency":
        yield finding("KP003", template.annotation_path(found[0]),
                      f"a GPU Service scaling on {found[1]!r}: requests in flight, not their rate, are what "
                      "occupies a GPU; use the concurrency metric (the default)")


def gpu_max_scale(template: Template, options: Options) -> Iterator[Finding]:
    gpus = gpu_requests(template)
    if not gpus:
        return
    found = annotation(template, autoscaling.MAX_SCALE)
    if found and number(found[1]) != 0:
        return
    path = template.annotation_path(found[0] if found else autoscaling.MAX_SCALE[0])
    what = "max-scale 0 (unlimited)" if found else "no max-scale"
    yield finding("KP004", path,
                  f"the pod asks for a GPU ({', '.join(gpus)}) and has {what}: a burst can ask for more GPUs than "
                  "the cluster has (Pods stay Pending) at a cost without bound; set "
                  "autoscaling.knative.dev/max-scale to the GPUs it may use")


def target_matches_concurrency(template: Template, options: Options) -> Iterator[Finding]:
    target = _target(template)
    cc = container_concurrency(template)
    if not target or not cc or cc < 0:
        return
    if metric(template) != "concurrency" or target[1] == cc:
        return
    if gpu_requests(template) and target[1] > cc:
        return  # KP002 says it
    advice = ("Knative caps the target at containerConcurrency" if target[1] > cc
              else "for headroom, lower target-utilization-percentage instead of the target")
    yield finding("KP005", template.annotation_path(target[0]),
                  f"target {target[1]:g} differs from containerConcurrency {cc}: {advice}")


def model_server_readiness(template: Template, options: Options) -> Iterator[Finding]:
    gpus = gpu_requests(template)
    for i in serving_containers(template):
        container = template.containers[i]
        reason = model_server_reason(container, gpus)
        if reason and not container.get("readinessProbe"):
            yield finding("KP006", template.at("spec", "containers", i, "readinessProbe"),
                          f"a model server ({reason}) with no readinessProbe: Knative's default TCP probe passes "
                          "as soon as the port opens, which may be before the model is loaded; probe an endpoint "
                          "that answers only once it can serve")


def model_on_volume(template: Template, options: Options) -> Iterator[Finding]:
    volumes = template.spec.get("volumes")
    volumes = volumes if isinstance(volumes, list) else []
    for i, container in enumerate(template.containers):
        for found in model_paths(container):
            if not mounted_from_volume(container, volumes, found.directory):
                yield finding("KP007", template.at("spec", "containers", i, *found.path),
                              f"the model is read from {found.directory} ({found.origin}) and no volume is mounted "
                              "there: it comes with the image (or is fetched at every start), which slows scale-out "
                              "and ties model versions to image builds; mount it from storage (a "
                              "persistentVolumeClaim)")


def _windows(template: Template) -> tuple[tuple[float, bool], tuple[float, bool]] | None:
    """((stable window, written?), (panic window percentage, written?)); None when one is not readable."""
    window = annotation(template, autoscaling.WINDOW)
    stable = seconds(window[1]) if window else DEFAULT_WINDOW
    pct = annotation(template, autoscaling.PANIC_WINDOW_PERCENTAGE)
    percentage = number(pct[1]) if pct else DEFAULT_PANIC_WINDOW_PERCENTAGE
    if stable is None or percentage is None:
        return None  # admission names the bad value
    return (stable, window is not None), (percentage, pct is not None)


def window_vs_startup(template: Template, options: Options) -> Iterator[Finding]:
    windows = _windows(template)
    if options.startup is None or windows is None or not uses_kpa(template):
        return
    (stable, written), _ = windows
    if stable < 2 * options.startup:
        found = annotation(template, autoscaling.WINDOW)
        yield finding("KP008", template.annotation_path(found[0] if found else autoscaling.WINDOW[0]),
                      f"stable window {stable:g}s{'' if written else ' (the default)'} is shorter than twice the "
                      f"start-up time of {options.startup:g}s: replicas are judged before new ones are ready; set "
                      f"autoscaling.knative.dev/window to at least {math.ceil(2 * options.startup)}s")


def _panic_seconds(stable: float, percentage: float) -> float:
    # Knative rounds to whole seconds (halves away from zero, as Go's Duration.Round), at least 1 s
    return max(1.0, math.floor(stable * percentage / 100 + 0.5))


def panic_window_vs_startup(template: Template, options: Options) -> Iterator[Finding]:
    windows = _windows(template)
    if options.startup is None or windows is None or not uses_kpa(template):
        return
    (stable, stable_written), (percentage, pct_written) = windows
    panic = _panic_seconds(stable, percentage)
    if panic > options.startup:
        return
    found = annotation(template, autoscaling.PANIC_WINDOW_PERCENTAGE)
    window_note = "" if stable_written else " by default"
    pct_note = "" if pct_written else " by default"
    enough = next((p for p in range(1, 101) if _panic_seconds(stable, p) > options.startup), None)
    advice = (f"raise panic-window-percentage to at least {enough}" if enough
              else "lengthen the stable window first (to twice the start-up)")
    yield finding("KP009",
                  template.annotation_path(found[0] if found else autoscaling.PANIC_WINDOW_PERCENTAGE[0]),
                  f"panic window {panic:g}s (window {stable:g}s{window_note} x {percentage:g}%{pct_note}) is at or "
                  f"below the start-up time of {options.startup:g}s: a burst keeps the autoscaler adding pods while "
                  f"the first new ones are still starting (over-scaling); {advice} (seed 004's starting point, 50% "
                  "of a window twice the start-up, puts it right at the start-up time)")


def timeout_vs_response(template: Template, options: Options) -> Iterator[Finding]:
    if options.response_seconds is None:
        return
    value = template.spec.get("timeoutSeconds")
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
        return  # admission names it
    timeout = DEFAULT_TIMEOUT_SECONDS if value is None else value
    needed = 1.2 * options.response_seconds
    if timeout >= needed - 1e-9:
        return
    default = " (the default)" if value is None else ""
    over = " (above Knative's default maximum of 600: raise max-revision-timeout-seconds)" if needed > 600 else ""
    yield finding("KP010", template.at("spec", "timeoutSeconds"),
                  f"timeoutSeconds {timeout:g}{default} is under 1.2 x the longest expected response of "
                  f"{options.response_seconds:g}s: requests still running when a pod drains are cut off; set it "
                  f"to {math.ceil(needed - 1e-9)}{over}")


TemplateCheck = Callable[[Template, Options], Iterator[Finding]]

TEMPLATE_CHECKS: tuple[TemplateCheck, ...] = (
    gpu_concurrency, gpu_target, gpu_metric, gpu_max_scale, target_matches_concurrency, model_server_readiness,
    model_on_volume, window_vs_startup, panic_window_vs_startup, timeout_vs_response,
)


def check(doc: dict, options: Options) -> Iterator[Finding]:
    """Every practice check of a Knative Service, Configuration or Revision; nothing for other kinds."""
    template = revision_template(doc)
    if template is None:
        return
    for practice in TEMPLATE_CHECKS:
        yield from practice(template, options)
