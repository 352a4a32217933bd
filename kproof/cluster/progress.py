"""What `cluster up` is doing, step by step: the supervisor appends events to progress.jsonl (and, in the
foreground, shows them at once); a detached `up` follows the file and shows the same."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from reference.host.processes import write_private

BEGIN, END, NOTE, FAIL, READY, STOPPED = "begin", "end", "note", "fail", "ready", "stopped"
FINAL = (READY, FAIL, STOPPED)


@dataclass
class Outcome:
    text: str


class Reporter:
    """Events of one run: each names the supervisor's pid, so that a follower skips an earlier run's."""

    def __init__(self, path: Path, show: Callable[[dict], None] | None = None) -> None:
        self.path = path
        self.show = show
        self.started = time.monotonic()
        self.pid = os.getpid()

    def reset(self) -> None:
        """Starts the file afresh (once this run owns the state directory)."""
        write_private(self.path, "")

    def _emit(self, state: str, step: str, text: str, **extra: object) -> None:
        event = {"at": round(time.monotonic() - self.started, 1), "state": state, "step": step, "text": text,
                 "pid": self.pid, **extra}
        with contextlib.suppress(OSError), self.path.open("a") as handle:
            handle.write(json.dumps(event) + "\n")
        if self.show is not None:
            self.show(event)

    @contextlib.contextmanager
    def step(self, step: str, text: str, done: str | None = None) -> Iterator[Outcome]:
        """`text` while the step runs, then `done` (or `text`, or what the step set as its outcome's text)
        with how long it took; a failure is reported and raised on."""
        began = time.monotonic()
        outcome = Outcome(done or text)
        self._emit(BEGIN, step, text)
        try:
            yield outcome
        except Exception as err:
            self._emit(FAIL, step, f"{text}: {err}")
            raise
        self._emit(END, step, outcome.text, seconds=round(time.monotonic() - began, 1))

    def failed(self, text: str) -> None:
        self._emit(FAIL, "", text)

    def note(self, text: str) -> None:
        self._emit(NOTE, "", text)

    def ready(self, text: str) -> None:
        self._emit(READY, "", text)

    def stopped(self, text: str) -> None:
        self._emit(STOPPED, "", text)


class Display:
    """Shows events on the console: a spinner with the running step, a line per finished one."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status = console.status("starting")
        self.status.start()
        self.begun = time.monotonic()

    def __call__(self, event: dict) -> None:
        state, text = event.get("state"), event.get("text", "")
        if state == BEGIN:
            self.status.update(text)
        elif state == END:
            self.console.print(f"[green]✓[/green] {text} [dim]({event.get('seconds', 0):.1f}s)[/dim]")
        elif state == NOTE:
            self.console.print(f"[yellow]![/yellow] {text}")
        elif state == FAIL:
            self.console.print(f"[red]✗ {text}[/red]")
        elif state in (READY, STOPPED):
            self.console.print(f"{text} [dim](after {event.get('at', 0):.0f}s)[/dim]")

    def close(self) -> None:
        self.status.stop()


def follow(path: Path, pid: int, show: Callable[[dict], None], alive: Callable[[], bool],
           poll: float = 0.2) -> dict | None:
    """Shows the events process `pid` appends to `path` until a final one (returned), or None once `alive()`
    says the writer is gone without one."""
    position, inode = 0, None
    while True:
        with contextlib.suppress(OSError), path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            if stat.st_ino != inode or stat.st_size < position:  # the supervisor started the file afresh
                position, inode = 0, stat.st_ino
            handle.seek(position)
            for line in iter(handle.readline, b""):
                if not line.endswith(b"\n"):
                    break  # half written: read again next time
                position += len(line)
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("pid") != pid:
                        continue  # an earlier run's
                    show(event)
                    if event.get("state") in FINAL:
                        return event
        if not alive():
            return None
        time.sleep(poll)
