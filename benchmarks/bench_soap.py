"""SOAP: minnp against DScribe's SOAP (n_jobs=1), periodic Si, n_max 8, l_max 6, r_cut 5 Å, σ 1 Å

Descriptors: ``SOAP.create`` (ASE Atoms in, NumPy out, neighbour list included) against
``dscribe.descriptors.SOAP.create`` on the same rattled diamond-Si cells, σ = 1 Å (DScribe's
default; 145 neighbours per atom inside r_cut + 3.7σ); goal: within 2x of DScribe's time.
Derivatives: the full Jacobian dp_i/dx_k (n_centers, n_atoms, 3, F) against DScribe's
``derivatives()`` on 64 atoms, which is numerical for periodic cells (its analytical derivatives
exist only for clusters: the second row compares those, on the same 64 atoms with pbc off);
goal: faster. The training path, features plus one backward pass (what a force loss costs), is
listed for reference; a 1000-atom Jacobian would be 6 GB (DScribe's too). On a GPU the batched
torch path is reported in atoms per second.
"""

from __future__ import annotations

import torch
from ase.build import bulk

from benchmarks.harness import Row, best_time, descriptor_rows, once
from minnp.batch import atoms_to_batch
from minnp.descriptors import SOAP

PARAMS = dict(species=["Si"], r_cut=5.0, n_max=8, l_max=6, sigma=1.0)


def silicon(repeat: int, periodic: bool = True):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True) * (repeat, repeat, repeat)  # 8 repeat³ atoms
    atoms.rattle(0.05, seed=0)
    atoms.pbc = periodic
    return atoms


def run(quick: bool) -> list[Row]:
    from dscribe.descriptors import SOAP as DScribeSOAP

    ours, theirs = SOAP(periodic=True, **PARAMS), DScribeSOAP(periodic=True, **PARAMS)
    rows = []
    for repeat in (2,) if quick else (2, 5):
        atoms = silicon(repeat)
        n = len(atoms)
        rows += descriptor_rows(ours, theirs, atoms, tol=1e-8, goal=0.5, repeat=5 if n > 100 else 20)

    atoms = silicon(2)
    ours_s = best_time(lambda: ours.derivatives(atoms), repeat=3)
    rows.append(Row("64-atom Si, derivatives (n, n, 3, F)", ours_s, "DScribe (numerical)",
                    once(lambda: theirs.derivatives(atoms)), goal=1.0))
    cluster = silicon(2, periodic=False)
    ours_c, theirs_c = SOAP(**PARAMS), DScribeSOAP(**PARAMS)
    ours_s = best_time(lambda: ours_c.derivatives(cluster), repeat=3)
    theirs_s = best_time(lambda: theirs_c.derivatives(cluster, method="analytical"), repeat=3)
    rows.append(Row("64-atom Si cluster, derivatives (n, n, 3, F)", ours_s, "DScribe (analytical)", theirs_s,
                    goal=1.0))

    if torch.cuda.is_available():
        gpu = SOAP(periodic=True, **PARAMS).to("cuda")
        structures = [silicon(5)] * (2 if quick else 8)
        batch = atoms_to_batch(structures, device="cuda")
        n = int(batch.n_atoms.sum())
        seconds = best_time(lambda: gpu(batch.replace(positions=batch.positions)), repeat=5)
        rows.append(Row(f"GPU: {len(structures)} x 1000-atom Si, forward", seconds, "DScribe", None,
                        note=f"{n / seconds:,.0f} atoms/s ({torch.cuda.get_device_name(0)}), "
                             "neighbour list cached"))

        def gpu_forces():
            positions = batch.positions.clone().requires_grad_()
            torch.autograd.grad(gpu(batch.replace(positions=positions)).sum(), positions)

        seconds = best_time(gpu_forces, repeat=5)
        rows.append(Row(f"GPU: {len(structures)} x 1000-atom Si, forward + backward", seconds, "DScribe",
                        None, note=f"{n / seconds:,.0f} atoms/s"))
    return rows
