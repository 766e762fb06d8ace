"""A test of the test: does `make test` pass on a busy machine, and how much slower is it?

    make stress-test                 # idle run, then a run under two CPU burners (~15 min on 2 cores)
    python tools/stress_test.py --burners 2 --loaded-only

Clones the committed repository into a temporary folder, installs it once (`make install`), then
times the two phases of `make test` (`make unit`, `make notebooks`) on the idle machine and again
while ``--burners`` CPU-bound processes compete for the cores. Each burner is a separate Python
process that spins until this script stops it, and stops by itself after ``--limit`` seconds
whatever happens. Prints each phase's wall time, pass/fail and the slowdown; exits non-zero when
a loaded run fails (a slow run is not a failure).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("unit", "notebooks")


def burner(limit_s: float) -> subprocess.Popen:
    """One CPU-bound process that spins for at most ``limit_s`` seconds."""
    code = f"import time\nend = time.monotonic() + {limit_s}\nwhile time.monotonic() < end: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def run_phase(clone: Path, phase: str, log: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with log.open("w") as f:
        rc = subprocess.run(["make", "-s", phase], cwd=clone, stdout=f, stderr=subprocess.STDOUT).returncode
    return time.perf_counter() - start, rc


def run_all(clone: Path, label: str, logs: Path) -> dict[str, tuple[float, int]]:
    out = {}
    for phase in PHASES:
        seconds, rc = run_phase(clone, phase, logs / f"{label}-{phase}.log")
        out[phase] = (seconds, rc)
        print(f"{label:>7s} {phase:10s} {seconds:7.1f} s  {'passed' if rc == 0 else f'FAILED (exit {rc})'}",
              flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burners", type=int, default=2, help="CPU-bound competitors (default 2)")
    parser.add_argument("--limit", type=float, default=3600, help="burners stop by themselves after this (s)")
    parser.add_argument("--loaded-only", action="store_true", help="skip the idle run")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="minnp-stress-"))
    clone, logs = work / "minnp", work / "logs"
    logs.mkdir()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    print(f"fresh clone in {clone}; logs in {logs}; installing ...", flush=True)
    subprocess.run(["make", "-s", "install"], cwd=clone, check=True)

    idle = {} if args.loaded_only else run_all(clone, "idle", logs)
    burners = [burner(args.limit) for _ in range(args.burners)]
    try:
        loaded = run_all(clone, "loaded", logs)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    print(f"\n{'phase':10s} {'idle':>8s} {'loaded':>8s} {'slowdown':>9s}   ({args.burners} burners on {os.cpu_count()} cores)")
    for phase in PHASES:
        t_loaded = loaded[phase][0]
        t_idle = idle.get(phase, (float("nan"), 0))[0]
        print(f"{phase:10s} {t_idle:7.1f}s {t_loaded:7.1f}s {t_loaded / t_idle:8.1f}x")
    return 1 if any(rc != 0 for _, rc in loaded.values()) or any(rc != 0 for _, rc in idle.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
