"""GAP (notebook 11) against gap_fit (QUIP) on the mlearn Si split: test errors and fit time.

Both fit the same training structures (``minnp.datasets.load("mlearn_si")``, ``split == "train"``;
``--quick``: the first 60) on total energies and forces, with the settings matched as closely as
the two SOAP conventions allow:

- SOAP r_cut = 5 Å, n_max = 6, l_max = 4, atom σ = 0.5 Å. minnp's SOAP is DScribe's (GTO basis,
  atoms counted up to r_cut + 3.7σ without a smooth cutoff); gap_fit's has its own radial basis
  and a 0.5 Å cosine transition at the cutoff. The features differ; the kernels are alike.
- kernel δ²(x̂·ŷ)^ζ with δ = 1 eV, ζ = 4; 200 sparse points by CUR; σ_E = 2 meV/atom (per atom,
  gap_fit's ``sigma_per_atom``), σ_F = 0.1 eV/Å; sparse jitter 1e-8; e0 = mean energy per atom.

Test energy (meV/atom) and force (eV/Å) RMSE of both on ``split == "test"``, and fit wall time,
both on one thread (gap_fit with OMP_NUM_THREADS=1, minnp inside ``harness.one_thread()``). gap_fit ships in the PyPI package
``quippy-ase`` under an academic, non-commercial licence: never a dependency of minnp; without
it this benchmark reports minnp alone. Row: minnp's fit time against gap_fit's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import ase.io
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from benchmarks.harness import Row, one_thread
from minnp import datasets, train
from minnp.descriptors import SOAP
from minnp.models import GAP

SETTINGS = {"r_cut": 5.0, "n_max": 6, "l_max": 4, "sigma": 0.5, "zeta": 4, "delta": 1.0, "n_sparse": 200,
            "sigma_energy": 0.002, "sigma_force": 0.1, "jitter": 1e-8}


def split(quick: bool):
    structures = datasets.load("mlearn_si")
    train_set = [a for a in structures if a.info["split"] == "train"]
    test_set = [a for a in structures if a.info["split"] == "test"]
    return (train_set[:60] if quick else train_set), test_set


def fit_minnp(train_set, test_set):
    s = SETTINGS
    soap = SOAP(["Si"], r_cut=s["r_cut"], n_max=s["n_max"], l_max=s["l_max"], sigma=s["sigma"], periodic=True)
    gap = GAP(soap, n_sparse=s["n_sparse"], zeta=s["zeta"], delta=s["delta"], sigma_energy=s["sigma_energy"],
              sigma_force=s["sigma_force"], jitter=s["jitter"], sparse_method="cur")
    with one_thread():
        start = time.perf_counter()
        gap.fit(train_set)
        seconds = time.perf_counter() - start
    return seconds, train.evaluate(gap, test_set)


def energy_and_forces(atoms):
    """A copy labelled with energy and forces only: minnp fits no stress, so gap_fit must not either."""
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
    return copy


def gap_fit_program() -> str | None:
    """gap_fit on PATH or beside this Python (a virtual environment's bin/)."""
    beside = os.path.join(os.path.dirname(sys.executable), "gap_fit")
    return shutil.which("gap_fit") or (beside if os.access(beside, os.X_OK) else None)


def fit_gap_fit(train_set, test_set):
    """gap_fit on the same data; errors from quippy's Potential on the test set."""
    from quippy.potential import Potential

    s = SETTINGS
    folder = tempfile.mkdtemp(prefix="bench_gap_")
    try:
        ase.io.write(os.path.join(folder, "train.xyz"), [energy_and_forces(a) for a in train_set], format="extxyz")
        soap = (f"soap cutoff={s['r_cut']} cutoff_transition_width=0.5 n_max={s['n_max']} l_max={s['l_max']} "
                f"atom_sigma={s['sigma']} zeta={s['zeta']} delta={s['delta']} n_sparse={s['n_sparse']} "
                f"sparse_method=cur_points covariance_type=dot_product add_species=T")
        command = [gap_fit_program(), "at_file=train.xyz", f"gap={{{soap}}}",
                   f"default_sigma={{{s['sigma_energy']} {s['sigma_force']} 0.0 0.0}}",
                   "energy_parameter_name=energy", "force_parameter_name=forces", "e0_method=average",
                   f"sparse_jitter={s['jitter']}", "gp_file=gap.xml", "rnd_seed=1"]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        start = time.perf_counter()
        subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        potential = Potential(param_filename=os.path.join(folder, "gap.xml"))
        de, df = [], []
        for reference in test_set:
            reference_e, reference_f = reference.get_potential_energy(), reference.get_forces()
            atoms = reference.copy()
            atoms.calc = potential
            de.append((atoms.get_potential_energy() - reference_e) / len(atoms))
            df.append(atoms.get_forces() - reference_f)
        errors = {"energy_rmse": float(np.sqrt(np.mean(np.square(de)))),
                  "force_rmse": float(np.sqrt(np.mean(np.square(np.concatenate(df)))))}
        return seconds, errors
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(quick: bool) -> list[Row]:
    train_set, test_set = split(quick)
    ours_s, ours = fit_minnp(train_set, test_set)
    note = (f"{len(train_set)} train / {len(test_set)} test; minnp test RMSE E {1000 * ours['energy_rmse']:.2f} "
            f"meV/atom, F {ours['force_rmse']:.3f} eV/Å")
    if gap_fit_program() is None:
        return [Row("GAP fit, mlearn Si (energies + forces)", ours_s, "gap_fit", None,
                    note=note + "; gap_fit not installed (pip install quippy-ase: academic licence)")]
    peer_s, peer = fit_gap_fit(train_set, test_set)
    ratio_e, ratio_f = ours["energy_rmse"] / peer["energy_rmse"], ours["force_rmse"] / peer["force_rmse"]
    note += (f"; gap_fit E {1000 * peer['energy_rmse']:.2f} meV/atom, F {peer['force_rmse']:.3f} eV/Å; "
             f"ratio E {ratio_e:.2f}, F {ratio_f:.2f}")
    return [Row("GAP fit, mlearn Si (energies + forces)", ours_s, "gap_fit", peer_s, goal=1.0, note=note)]


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
