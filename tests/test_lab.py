"""`make lab` gives kernels that draw figures: no test-only environment leaks into it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
VENV = Path(sys.executable).parents[1]


@pytest.mark.skipif(not (VENV / ".installed").exists(), reason="needs the Makefile's .venv (make install)")
def test_make_lab_kernels_show_figures_inline(tmp_path):
    out = tmp_path / "probe.json"
    # the environment of a user's shell: nothing that `make test` exports
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLBACKEND", "TQDM_DISABLE", "MINNP_REQUIRE_PEERS", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env["LAB_PROBE_OUT"] = str(out)
    probe = f"{sys.executable} {ROOT / 'tests' / 'lab_probe.py'}"
    subprocess.run(["make", "-s", "-C", str(ROOT), "lab", f"VENV={VENV}", f"JUPYTER={probe}"],
                   env=env, check=True, timeout=300, capture_output=True)
    result = json.loads(out.read_text())
    assert result["argv"][:2] == ["lab", "notebooks"]
    assert result["MPLBACKEND"] is None
    assert "image/png" in result["mime"], result
