"""LAMMPS: minnp's Calculator MD against LAMMPS (1 and 2 MPI ranks) on the same exported potential

Throughput in seconds per 1000 atom-steps (lower is faster) for NVE MD of diamond Si with
Tersoff's Si(C): minnp's ``Calculator`` under ASE's VelocityVerlet (512 atoms) against LAMMPS'
``lmp`` on the file ``minnp.lammps.export`` wrote (4096 atoms, 1 rank and, where ``mpirun``
exists, 2 ranks), and an ML-IAP network on SNAP descriptors (random weights) as minnp runs it
(LAMMPS computes the descriptors and their Jacobian, minnp the network, 216 atoms) and as
LAMMPS' ``pair_style mliap`` runs it (1000 atoms). LAMMPS' time is its own "Loop time".
No goal: the peer is expected to be faster,
and the factor is the result (notebook 15 prints the same table).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

import minnp
from benchmarks.harness import Row
from minnp import lammps as ml
from minnp.models import HDNNP
from minnp.potentials import Tersoff


def minnp_seconds_per_kilo_atom_step(model, atoms, steps: int) -> float:
    atoms = atoms.copy()
    atoms.calc = minnp.Calculator(model)
    thermalize_momenta(atoms, temperature_K=600, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dyn.run(1)
    start = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - start) / (len(atoms) * steps) * 1000


def run(quick: bool) -> list[Row]:
    rows = []
    tersoff = Tersoff.from_name("Si(C)")
    cubic = bulk("Si", "diamond", a=5.431, cubic=True)
    ours = minnp_seconds_per_kilo_atom_step(tersoff, cubic.repeat(4), 2 if quick else 10)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        potential = ml.export(tersoff, tmp)
        for ranks in (1, 2):
            if ranks > 1 and ml.mpirun() is None:
                rows.append(Row("Tersoff Si(C) MD, 2 ranks", ours, "LAMMPS", None, note="skipped: no mpirun"))
                continue
            atoms = cubic.repeat(4 if quick else 8)
            md = ml.run_md(potential, atoms, tmp / f"t{ranks}", steps=20 if quick else 200, ranks=ranks)
            theirs = 1000 / md["atom_steps_per_second"]
            rows.append(Row(f"Tersoff Si(C) MD, {md['atoms']} atoms, {ranks} rank(s)", ours, "LAMMPS tersoff",
                            theirs,
                            note=f"LAMMPS {ours / theirs:.0f}x faster per atom-step (minnp: 512 atoms)"))
        torch.manual_seed(0)
        network = HDNNP(ml.SNAPDescriptor(["Si"], rcutfac=4.7, twojmax=6), hidden=(16, 16))
        network.fit_scaling([cubic.repeat(2)])
        network.eval()
        network.warn_extrapolation = False  # random weights: the range check is not the point
        snap = ml.export(network, tmp)
        ours = minnp_seconds_per_kilo_atom_step(network, cubic.repeat(3), 2 if quick else 5)
        md = ml.run_md(snap, cubic.repeat(3 if quick else 5), tmp / "snap", steps=5 if quick else 30)
        theirs = 1000 / md["atom_steps_per_second"]
        rows.append(Row(f"ML-IAP nn on SNAP (K=30, 16-16) MD, {md['atoms']} atoms, 1 rank", ours,
                        "LAMMPS mliap",
                        theirs, note=f"minnp: 216 atoms, descriptors and Jacobian from LAMMPS each step; "
                                     f"LAMMPS {ours / theirs:.0f}x faster"))
    return rows
