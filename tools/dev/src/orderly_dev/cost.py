"""What a measured window cost: CPU seconds per process, and py-spy profiles of the services.

CPU comes from psutil (user + system time). PostgreSQL forks a backend per connection
and reaps the ones that exit, so its figure is the postmaster's own time, its reaped
children's time and its live children's time together: a backend that exits during the
window moves from the last term to the second, and the difference over the window stays
right.
"""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil


def _own_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _tree_seconds(proc: psutil.Process) -> float:
    """The process, its live descendants and the children it has reaped."""
    t = proc.cpu_times()
    total = float(t.user + t.system + t.children_user + t.children_system)
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += _own_seconds(child)
    return total


@dataclass(frozen=True)
class Measured:
    """A named process to account CPU for; ``tree`` adds its children (PostgreSQL)."""

    name: str
    pid: int
    tree: bool = False

    def seconds(self) -> float | None:
        try:
            proc = psutil.Process(self.pid)
            return _tree_seconds(proc) if self.tree else _own_seconds(proc)
        except psutil.Error:
            return None


class CpuMeter:
    """CPU seconds each process used between ``start()`` and ``stop()``, and the wall-clock
    seconds between them."""

    def __init__(self, processes: Iterable[Measured]) -> None:
        self.processes = list(processes)
        self._before: dict[str, float | None] = {}
        self._started: float | None = None
        self.used: dict[str, float] = {}
        self.elapsed = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self._before = {p.name: p.seconds() for p in self.processes}

    def stop(self) -> dict[str, float]:
        if self._started is not None:
            self.elapsed = time.monotonic() - self._started
        self.used = {}
        for p in self.processes:
            before, after = self._before.get(p.name), p.seconds()
            if before is not None and after is not None:
                self.used[p.name] = after - before
        return self.used


def per_unit_ms(used: Mapping[str, float], units: float) -> dict[str, float]:
    """CPU milliseconds per unit of work (a saga) for each process, and their total."""
    if units <= 0:
        return {}
    out = {name: round(1000 * seconds / units, 2) for name, seconds in used.items()}
    out["total"] = round(1000 * sum(used.values()) / units, 2)
    return out


# --------------------------------------------------------------------------- profiles


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter or on PATH (requirements-dev pins it)."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """py-spy ``record`` of each service for a fixed time, as collapsed stacks."""

    def __init__(self, pids: Mapping[str, int], out_dir: Path, seconds: float) -> None:
        self.pids = dict(pids)
        self.out_dir = out_dir
        self.seconds = max(1, round(seconds))
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed: pip install -r requirements-dev.txt")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self._procs[name] = subprocess.Popen(  # noqa: S603 - our own tool and pids
                [
                    exe,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(self.seconds),
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--output",
                    str(self.out_dir / f"{name}.folded"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def wait(self) -> dict[str, Path]:
        """The collapsed-stack file of each service that py-spy finished."""
        done = {}
        for name, proc in self._procs.items():
            try:
                proc.wait(self.seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                continue
            path = self.out_dir / f"{name}.folded"
            if proc.returncode == 0 and path.exists():
                done[name] = path
        return done


_FRAME = re.compile(r"(?P<name>.*) \((?P<path>.*?)(?::\d+)?\)$")

#: An idle thread-pool worker waits on a queue; py-spy can count it as active.
_IDLE_STACK = "_worker (concurrent/futures/thread.py"


def frame_label(frame: str) -> str:
    """``func (.../pkg/module.py:12)`` → ``pkg/module.py:func``."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = "/".join(m["path"].split("/")[-2:])
    return f"{path}:{m['name']}"


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    #: (share of samples, frame) where the stack includes the frame, largest first.
    inclusive: list[tuple[float, str]]
    #: (share of samples, frame) where the frame is running itself, largest first.
    own: list[tuple[float, str]]


def summarize_profile(
    path: Path, *, top: int = 15, keep: Callable[[str], bool] = lambda _f: True
) -> ProfileSummary:
    """The frames that took the most samples in a py-spy collapsed-stack file."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or (_IDLE_STACK in stack and "asyncio" not in stack):
            continue
        n = int(count)
        samples += n
        frames = [frame_label(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            if keep(f):
                inclusive[f] += n

    def shares(counter: collections.Counter[str]) -> list[tuple[float, str]]:
        return [(round(n / samples, 3), f) for f, n in counter.most_common(top)] if samples else []

    return ProfileSummary(samples=samples, inclusive=shares(inclusive), own=shares(own))


#: Frames every stack of a service passes through (interpreter and event-loop entry).
_PLUMBING = re.compile(
    r"^(<frozen runpy>|asyncio/|uvicorn/(main|server|_compat)|orderly_kit/cli|"
    r"orderly_\w+/__main__|threading\.py)"
)


def interesting(frame: str) -> bool:
    """Not the entry plumbing that every sample shares."""
    return not _PLUMBING.match(frame)
