"""ACSF: minnp against DScribe's ACSF (n_jobs=1), periodic Si, 8 G2 + 8 G4, r_cut 6 Å

Descriptors: ``ACSF.create`` (ASE Atoms in, NumPy out, neighbour list included) against
``dscribe.descriptors.ACSF.create`` on the same rattled diamond-Si cells; goal: at least as fast.
Derivatives: the full Jacobian dG_i/dx_k (n_centers, n_atoms, 3, F) by autograd, against
DScribe's ``derivatives(attach=True)``, which is numerical (central differences, a Python loop
over atoms): goal at least 100x. DScribe's derivatives are timed once, on 64 atoms only: on 1000
atoms they would need 6000 full descriptor evaluations (~15 min). The training path, features
plus one backward pass (what a force loss costs), is listed for reference, and on a GPU the
batched torch path is reported in atoms per second.
"""

from __future__ import annotations

import numpy as np
import torch
from ase.build import bulk

from benchmarks.harness import Row, best_time, descriptor_rows, once
from minnp.batch import atoms_to_batch
from minnp.descriptors import ACSF

G2 = [[eta, 0.0] for eta in np.geomspace(0.01, 2.0, 8)]
G4 = [[eta, zeta, lambda_] for eta in (0.005, 0.05) for zeta in (1.0, 4.0) for lambda_ in (1.0, -1.0)]
PARAMS = dict(species=["Si"], r_cut=6.0, g2_params=G2, g4_params=G4, periodic=True)


def silicon(repeat: int):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True) * (repeat, repeat, repeat)  # 8 repeat³ atoms
    atoms.rattle(0.05, seed=0)
    return atoms


def run(quick: bool) -> list[Row]:
    from dscribe.descriptors import ACSF as DScribeACSF

    ours, theirs = ACSF(**PARAMS), DScribeACSF(**PARAMS)
    rows = []
    sizes = (2,) if quick else (2, 5)
    for repeat in sizes:
        atoms = silicon(repeat)
        n = len(atoms)
        reps = 3 if n > 100 else 10
        rows += descriptor_rows(ours, theirs, atoms, tol=1e-10, goal=1.0, repeat=reps)

        ours_d = best_time(lambda: ours.derivatives(atoms), repeat=1 if n > 100 else 3)
        if n <= 64:
            theirs_d = once(lambda: theirs.derivatives(atoms, attach=True))
            rows.append(Row(f"{n}-atom Si, derivatives (n, n, 3, F)", ours_d, "DScribe (numerical)", theirs_d,
                            goal=100.0))
        else:
            rows.append(Row(f"{n}-atom Si, derivatives (n, n, 3, F)", ours_d, "DScribe (numerical)", None,
                            note="DScribe not run: 6N full evaluations, ~15 min"))

    if torch.cuda.is_available():
        gpu = ACSF(**PARAMS).to("cuda")
        structures = [silicon(5)] * (2 if quick else 8)
        batch = atoms_to_batch(structures, device="cuda")
        n = int(batch.n_atoms.sum())
        seconds = best_time(lambda: gpu(batch), repeat=5)  # the batch caches its neighbour list
        rows.append(Row(f"GPU: {len(structures)} x 1000-atom Si, forward", seconds, "DScribe", None,
                        note=f"{n / seconds:,.0f} atoms/s on {torch.cuda.get_device_name(0)}"))
    return rows
