"""The status report `kproof status` and `kproof cluster status` print for a running platform."""

from __future__ import annotations

import pytest
from rich.console import Console

from kproof.commands import common


def test_a_status_prints_its_keys_then_each_components_health(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(common, "console", Console(no_color=True, width=200))
    report = {"api": "https://127.0.0.1:6443", "ingress": None}
    common.print_status("ready (supervisor pid 7)", report, ("api", "ingress"),
                        [("etcd", "ok"), ("kube-apiserver", "exited with 1"), ("knative", "ok: 13 pods Running")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ready (supervisor pid 7)"
    assert lines[1].split() == ["api:", "https://127.0.0.1:6443"] and lines[2].split() == ["ingress:", "-"]
    assert [line.split(maxsplit=1) for line in lines[3:]] == [
        ["etcd", "ok"], ["kube-apiserver", "exited with 1"], ["knative", "ok: 13 pods Running"]]
