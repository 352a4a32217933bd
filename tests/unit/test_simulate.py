from pathlib import Path

from kproof.simulate import TracePoint, read_trace, service_settings, simulate
from reference.autoscaler.config import AutoscalerConfig

ROOT = Path(__file__).resolve().parents[2]


def test_trace_reading_converts_with_littles_law(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("second,rps\n0,50\n1,10\n")
    assert read_trace(path, 0.2) == [TracePoint(0, 10.0, 50.0), TracePoint(1, 2.0, 10.0)]
    path.write_text("second,concurrency\n0,4\n")
    assert read_trace(path, 0.5) == [TracePoint(0, 4.0, 8.0)]


def test_seed_001_burst_scales_out_to_the_kpa_formula_and_back() -> None:
    annotations, cc = service_settings(ROOT / "fixtures/manifests/seed-001/test-ai-process.yaml")
    assert cc == 2 and annotations["autoscaling.knative.dev/minScale"] == "1"
    trace = read_trace(ROOT / "fixtures/traces/seed-001-burst.csv", 0.2)  # 50 rps x 0.2 s = 10 in flight
    result = simulate(trace, annotations, cc, AutoscalerConfig(), startup_seconds=3)
    assert result.peak_replicas == 8  # ceil(10 / (2 x 0.7))
    assert result.rows[0].queued == 8  # one replica takes 2 of the first 10
    assert next(r.second for r in result.rows if r.ready == 8) == 3  # panic: all at once, ready after start-up
    assert result.rows[-1].ready == 1  # back to min-scale 1, never zero


def test_scale_to_zero_after_window_and_grace() -> None:
    trace = [TracePoint(s, 5.0, 25.0) for s in range(10)]
    result = simulate(trace, {"autoscaling.knative.dev/window": "6s"}, 0, AutoscalerConfig(), startup_seconds=1,
                      tail_seconds=80)
    zero = next(r.second for r in result.rows if r.second > 10 and r.replicas == 0)
    assert 10 + 6 + 30 <= zero <= 10 + 6 + 30 + 8
