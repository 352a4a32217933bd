"""Parallel test runs that keep timing tests honest (a pytest plugin, registered through pytest11).

Tests marked `timing` compare moments or rates in one process (a latency against a baseline, a scale-out
against its window): another test running beside them makes them measure the machine, not the platform.
Tests marked `exclusive` change what the whole machine shares for minutes (a cluster's sysctls, iptables and
nftables rules, kube-proxy's chains): nothing else should run meanwhile. So when pytest-xdist runs a suite,
`TimingLastScheduling` hands out every other test first, in xdist's load mode, and the timing and exclusive
tests last, one after another on one worker, once nothing else runs.

Where the ini file sets `kproof_workers` (kproof's own pyproject.toml does), running the whole suite (no
paths or node ids given) uses that many workers; `KPROOF_WORKERS=0` or any `-n`/`-p no:xdist` of the user's
wins. `--benchmark-skip` is added only where pytest-benchmark is installed, so a plain `pip install kproof`
can run the suite.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

MARKER = "timing"
EXCLUSIVE = "exclusive"
WORKERS_INI = "kproof_workers"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(WORKERS_INI, "xdist workers for a run of the whole suite (0: none)", default="0")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _names_a_test(arg: str) -> bool:
    return not arg.startswith("-") and (os.path.exists(arg.split("::")[0]) or "::" in arg)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    if _installed("pytest_benchmark") and not any(a.startswith("--benchmark") for a in args):
        args.append("--benchmark-skip")
    workers = os.environ.get("KPROOF_WORKERS") or str(early_config.getini(WORKERS_INI) or "0")
    no_xdist = any(a == "-pno:xdist" or (a == "-p" and following == "no:xdist")
                   for a, following in zip(args, [*args[1:], ""], strict=True))
    asked = no_xdist or any(a in ("-n", "--numprocesses", "--dist") or a.startswith(("-n", "--numprocesses="))
                            for a in args)
    if workers.isdigit() and int(workers) > 1 and _installed("xdist") and not asked \
            and not any(_names_a_test(a) for a in args) and "--collect-only" not in args:
        args[:0] = ["-n", workers]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: compares moments or rates; in a parallel run it runs alone, last")
    config.addinivalue_line("markers", f"{EXCLUSIVE}: changes host-wide state; in a parallel run it runs alone, last")


@cache
def _timing_tests(path: str) -> tuple[bool, frozenset[str]]:
    """(the whole file is marked, the test functions marked) `timing` or `exclusive` of a test file, read
    without importing it."""
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError):
        return False, frozenset()

    def marks(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Attribute) and n.attr in (MARKER, EXCLUSIVE) for n in ast.walk(node))

    whole = any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
                and marks(n.value) for n in tree.body)
    functions = frozenset(n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                          and any(marks(d) for d in n.decorator_list))
    return whole, functions


def is_timing(nodeid: str, rootdir: Path) -> bool:
    path, _, rest = nodeid.partition("::")
    whole, functions = _timing_tests(str(rootdir / path))
    return whole or rest.split("[")[0].split("::")[-1] in functions


@pytest.hookimpl(optionalhook=True)  # xdist's hook: a plain `pip install kproof` has no xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScheduling

    class TimingLastScheduling(LoadScheduling):
        """xdist's load scheduling for every test but the timing ones. Those stay pending until nothing else is
        left: then every worker but one is shut down (it finishes what it holds), and once they are gone the
        last one runs the timing tests, one after another, alone."""

        def _timing(self, index: int) -> bool:
            return is_timing(self.collection[index], config.rootpath)

        def _send_tests(self, node: Any, num: int) -> None:
            chosen = [i for i in self.pending if not self._timing(i)][:num]
            if chosen:
                taken = set(chosen)
                self.pending[:] = [i for i in self.pending if i not in taken]
                self.node2pending[node].extend(chosen)
                node.send_runtest_some(chosen)

        def check_schedule(self, node: Any, duration: float = 0) -> None:
            if node.shutting_down:
                return
            if not self.pending or any(not self._timing(i) for i in self.pending):
                super().check_schedule(node, duration)
            else:
                self._run_timing_alone()

        def remove_node(self, node: Any) -> Any:
            crashed = super().remove_node(node)
            if self.pending:  # a worker that left may be the one the timing tests waited for
                for other in self.nodes:
                    self.check_schedule(other)
            return crashed

        def _run_timing_alone(self) -> None:
            live = [n for n in self.nodes if not n.shutting_down]
            if not live:
                return
            keeper, others = live[0], live[1:]
            for other in others:
                other.shutdown()
            if any(self.node2pending[n] for n in self.nodes if n is not keeper):
                return  # the others still finish their last tests
            if len(self.node2pending[keeper]) > 1:
                return  # the keeper still runs other tests (a worker holds its last one until told more)
            timing, self.pending[:] = list(self.pending), []
            self.node2pending[keeper].extend(timing)
            keeper.send_runtest_some(timing)

    return TimingLastScheduling(config, log)


def timing_nodeids(nodeids: Sequence[str], rootdir: Path) -> list[str]:
    """The timing tests among `nodeids` (for the scheduler's test)."""
    return [n for n in nodeids if is_timing(n, rootdir)]
