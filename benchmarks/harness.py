"""What every benchmark shares: the machine it ran on, a best-of-N timer, one table format.

Speed goals are ratios against a named peer measured in the same run (never absolute times in
tests): each ``benchmarks/bench_*.py`` defines ``run(quick: bool) -> list[Row]`` and the harness
prints them together with the machine. ``python -m benchmarks [NAME ...] [--quick]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import time
from typing import Callable

import numpy as np
import torch


@dataclasses.dataclass
class Row:
    """One measured case: minnp's time against a peer's, and the goal for the ratio."""

    case: str
    minnp_s: float
    peer: str
    peer_s: float | None
    goal: float | None = None  # required speed-up peer_s / minnp_s, if any
    note: str = ""
    unit: str = "s"  # an accuracy row holds errors in this unit instead of times (ratio: peer / minnp)

    @property
    def speedup(self) -> float | None:
        return None if self.peer_s is None else self.peer_s / self.minnp_s

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.speedup is None:
            return None
        return self.speedup >= self.goal


def machine() -> str:
    """One line naming the hardware and software the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {gpu}, Python {platform.python_version()}")


@contextlib.contextmanager
def one_thread():
    """torch on one thread inside the block (a peer that runs serially gets the same), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def best_time(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``repeat`` calls after ``warmup`` calls (synchronising CUDA)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def once(fn: Callable[[], object]) -> float:
    """Wall time of a single call (for a peer too slow to repeat)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def descriptor_rows(ours, theirs, atoms, tol: float, goal: float, repeat: int) -> list[Row]:
    """A descriptor's first two rows against its DScribe twin on ``atoms``: ``create`` timed
    against DScribe's (after checking they agree to ``tol``, else the timing would be
    meaningless), and the training path, features plus one backward pass (no DScribe twin)."""
    from minnp.batch import atoms_to_batch

    n = len(atoms)
    x, ref = ours.create(atoms), theirs.create(atoms)
    error = np.abs(x - ref).max() / np.abs(ref).max()
    assert error < tol, f"minnp and DScribe disagree ({error:.2g}): the timing would be meaningless"
    ours_s = best_time(lambda: ours.create(atoms), repeat=repeat)
    theirs_s = best_time(lambda: theirs.create(atoms), repeat=repeat)

    def forces():
        batch = atoms_to_batch(atoms)
        positions = batch.positions.requires_grad_()
        torch.autograd.grad(ours(batch).sum(), positions)

    return [Row(f"{n}-atom Si, descriptors (create)", ours_s, "DScribe", theirs_s, goal=goal,
                note=f"max rel. diff {error:.1e}"),
            Row(f"{n}-atom Si, descriptors + one backward", best_time(forces, repeat=repeat), "DScribe", None,
                note="what forces from a model cost; DScribe has no such path")]


def report(title: str, rows: list[Row]) -> str:
    """A plain-text table: case, minnp time, peer time, speed-up, goal, met."""
    lines = [title, "-" * len(title),
             f"{'case':44s} {'minnp':>10s} {'peer':>24s} {'speed-up':>9s} {'goal':>6s}  met"]
    for r in rows:
        scale, unit = (1e3, "ms") if r.unit == "s" else (1.0, r.unit)
        peer = "-" if r.peer_s is None else f"{r.peer} {r.peer_s * scale:9.4g} {unit}"
        up = "-" if r.speedup is None else f"{r.speedup:8.2f}x"
        goal = "-" if r.goal is None else f"{r.goal:g}x"
        met = {None: "", True: "yes", False: "NO"}[r.met]
        lines.append(f"{r.case:44s} {r.minnp_s * scale:8.4g} {unit:5s} {peer:>26s} {up:>9s} {goal:>6s}  {met}"
                     + (f"  {r.note}" if r.note else ""))
    return "\n".join(lines)
