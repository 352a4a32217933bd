"""How the platform's state is written into a failed test's report: one line per pod, event and
PodAutoscaler, and only the end of a platform log that mentions the test's namespace."""

from __future__ import annotations

from pathlib import Path

from kproof import failure_logs


def test_pods_events_and_autoscalers_read_as_lines() -> None:
    crashing = {"name": "user-container", "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}, "running": None}}
    pods = [{"metadata": {"name": "web-00001-deployment-b"}, "spec": {"nodeName": "kproof-local"},
             "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                        "containerStatuses": [crashing]}},
            {"metadata": {"name": "web-00001-deployment-a", "deletionTimestamp": "2025-01-01T00:00:00Z"},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}]
    lines = failure_logs.format_pods(pods).splitlines()
    assert lines[0].startswith("web-00001-deployment-a phase=Running ready=True deleting")
    assert "user-container=waiting(CrashLoopBackOff) restarts=2" in lines[1] and "node=kproof-local" in lines[1]

    events = [{"metadata": {}, "lastTimestamp": "2025-01-01T00:00:02Z", "type": "Warning", "reason": "BackOff",
               "involvedObject": {"kind": "Pod", "name": "web-b"}, "message": "restarting", "count": 3},
              {"metadata": {}, "lastTimestamp": "2025-01-01T00:00:01Z", "type": "Normal", "reason": "Scheduled",
               "involvedObject": {"kind": "Pod", "name": "web-b"}, "message": "assigned"}]
    assert failure_logs.format_events(events).splitlines() == [
        "2025-01-01T00:00:01Z Normal Scheduled Pod/web-b: assigned",
        "2025-01-01T00:00:02Z Warning BackOff Pod/web-b: restarting (x3)"]

    autoscalers = [{"metadata": {"name": "web-00001"}, "status": {
        "desiredScale": 3, "actualScale": 1, "scaleTargetReplicas": 3,
        "conditions": [{"type": "Active", "status": "Unknown", "reason": "Queued"}]}}]
    assert failure_logs.format_autoscalers(autoscalers) == (
        "web-00001: desiredScale=3 actualScale=1 scaleTargetReplicas=3 Active=Unknown (Queued)")


def test_a_platform_log_gives_its_last_lines_about_the_namespace(tmp_path: Path) -> None:
    log = tmp_path / "reference.log"
    log.write_text("".join(f"line {i} about {'kproof-abc' if i % 2 else 'other'}\n" for i in range(1000)))
    lines = failure_logs.tail_matching(log, ["kproof-abc"], lines=3)
    assert lines == ["line 995 about kproof-abc", "line 997 about kproof-abc", "line 999 about kproof-abc"]
    assert failure_logs.tail_matching(log, ["kproof-none"]) == []
