"""ACSF: minnp against DScribe's ACSF (n_jobs=1), periodic Si, 8 G2 + 8 G4, r_cut 6 Å

Descriptors: ``ACSF.create`` (ASE Atoms in, NumPy out, neighbour list included) against
``dscribe.descriptors.ACSF.create`` on the same rattled diamond-Si cells; goal: at least as fast.
Derivatives: the full Jacobian dG_i/dx_k (n_centers, n_atoms, 3, F) by autograd, against
DScribe's ``derivatives(attach=True)``, which is numerical (central differences, a Python loop
over atoms): goal at least 100x. DScribe's derivatives are timed once, on 64 atoms only: on 1000
atoms they would need 6000 full descriptor evaluations (~15 min). The training path, features
plus one backward pass (what a force loss costs), is listed for reference, and on a GPU the
batched torch path is reported in atoms per second.

Against TorchANI's ``AEVComputer`` (its pure-torch path, float64, one thread, each with its own
neighbour list from ASE Atoms: minnp vesin, TorchANI all pairs below 190 atoms and its cell list
above), on ANI-1x's counts: per species 16 radial functions (eta 16 Å⁻², shifts 0.9 Å to the
cutoff), per species pair 32 angular ones, cosine cutoff, each neighbour pair j < k once.
minnp's twin: G1 + 16 G2 with the *same* eta, shifts and cutoff (so minnp's G2 = 4 x ANI's radial
terms, checked to 1e-10, which also proves both found the same neighbours) and 32 G5 (4 eta x
zeta 1, 2, 4, 8 x lambda ±1); the triangle counts are checked equal. What differs: ANI's angular
term (1 + cos(θ - θ_s))^32 exp(-eta((r_ij + r_ik)/2 - R_s)²) against G5's
(1 ± cos θ)^zeta exp(-eta(r_ij² + r_ik²)), and minnp's extra G1. Two cutoff settings:
one cutoff of 5.2 Å for both parts (minnp's ACSF has one cutoff; TorchANI's angular cutoff
5.2 - 1e-9 Å, as it must be below the radial one), and ANI-1x's own 5.2 Å radial / 3.5 Å angular
(minnp: one ACSF with r_cut 5.2 and r_cut_angular 3.5, whose angular terms take the pairs of its
one neighbour search that lie within 3.5 Å). Rows: values (no graph), and
the forces path (a linear head on the features, backward to the positions). Goal: at least as
fast per atom. Systems: rattled diamond Si (64 and 1000 atoms) and zincblende SiC (64 atoms).
"""

from __future__ import annotations

import numpy as np
import torch
from ase.build import bulk

from benchmarks import torchani_peer
from benchmarks.harness import Row, best_time, descriptor_rows, once, one_thread
from minnp.batch import atoms_to_batch
from minnp.descriptors import ACSF

G2 = [[eta, 0.0] for eta in np.geomspace(0.01, 2.0, 8)]
G4 = [[eta, zeta, lambda_] for eta in (0.005, 0.05) for zeta in (1.0, 4.0) for lambda_ in (1.0, -1.0)]
PARAMS = {"species": ["Si"], "r_cut": 6.0, "g2_params": G2, "g4_params": G4, "periodic": True}


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

        ours_d = best_time(lambda atoms=atoms: ours.derivatives(atoms), repeat=1 if n > 100 else 3)
        if n <= 64:
            theirs_d = once(lambda atoms=atoms: theirs.derivatives(atoms, attach=True))
            rows.append(Row(f"{n}-atom Si, derivatives (n, n, 3, F)", ours_d, "DScribe (numerical)", theirs_d,
                            goal=100.0))
        else:
            rows.append(Row(f"{n}-atom Si, derivatives (n, n, 3, F)", ours_d, "DScribe (numerical)", None,
                            note="DScribe not run: 6N full evaluations, ~15 min"))

    rows += torchani_rows(quick)

    if torch.cuda.is_available():
        gpu = ACSF(**PARAMS).to("cuda")
        structures = [silicon(5)] * (2 if quick else 8)
        batch = atoms_to_batch(structures, device="cuda")
        n = int(batch.n_atoms.sum())
        seconds = best_time(lambda: gpu(batch), repeat=5)  # the batch caches its neighbour list
        rows.append(Row(f"GPU: {len(structures)} x 1000-atom Si, forward", seconds, "DScribe", None,
                        note=f"{n / seconds:,.0f} atoms/s on {torch.cuda.get_device_name(0)}"))
    return rows


# ---- against TorchANI's AEVComputer, on ANI-1x's counts --------------------------------------

ANI_ETA_R, ANI_START, ANI_N_RADIAL = 16.0, 0.9, 16  # ANI-1x's radial terms
G5_ANI = [[eta, zeta, lambda_] for eta in (0.005, 0.02, 0.05, 0.1) for zeta in (1, 2, 4, 8) for lambda_ in (1, -1)]


def ani_g2(r_cut: float) -> list[list[float]]:
    """G2 with ANI's radial eta and shifts (TorchANI's linspace: 0.9 Å up to, not including, r_cut)."""
    step = (r_cut - ANI_START) / ANI_N_RADIAL
    return [[ANI_ETA_R, ANI_START + step * k] for k in range(ANI_N_RADIAL)]


def silicon_carbide(repeat: int):
    atoms = bulk("SiC", "zincblende", a=4.36, cubic=True) * (repeat, repeat, repeat)  # 8 repeat³ atoms
    atoms.rattle(0.05, seed=1)
    return atoms


def _ani_inputs(atoms, symbols, positions_grad: bool):
    index = {s: k for k, s in enumerate(symbols)}
    species = torch.tensor([[index[x] for x in atoms.get_chemical_symbols()]])  # (1, N)
    coords = torch.tensor(atoms.positions, dtype=torch.float64)[None].requires_grad_(positions_grad)  # (1, N, 3)
    return species, coords, torch.tensor(np.asarray(atoms.cell)), torch.tensor(atoms.pbc)


def check_same_environments(ours_radial: ACSF, aev, atoms, symbols, r_angular: float) -> str:
    """minnp's G2 block = 4 x TorchANI's radial AEV (same eta, shifts, cutoff: the same
    neighbours) and the same number of angular triangles; returns the row note's check text."""
    from torchani.neighbors import discard_outside_cutoff

    batch = atoms_to_batch(atoms)
    with torch.no_grad():
        G = ours_radial(batch)  # (N, F): per species [G1, G2 x 16], then angular
        species, coords, cell, pbc = _ani_inputs(atoms, symbols, False)
        ani = aev(species, coords, cell, pbc)[0]  # (N, 16 S + 32 S(S+1)/2)
        S, R = len(symbols), ours_radial.n_radial
        g2 = G[:, :S * R].reshape(-1, S, R)[:, :, 1:1 + ANI_N_RADIAL].reshape(len(atoms), -1)
        radial_error = float((g2 - 4 * ani[:, :S * ANI_N_RADIAL]).abs().max())
        assert radial_error < 1e-10, f"minnp G2 and TorchANI radial AEV disagree ({radial_error:.2g})"
        nbrs = aev.neighborlist(aev.radial.cutoff, species, coords, cell, pbc)
        close = discard_outside_cutoff(nbrs, aev.angular.cutoff).indices.flatten()
        c = torch.bincount(close, minlength=len(atoms))  # (N,) neighbours within the angular cutoff
        ani_triangles = int((c * (c - 1) // 2).sum())
        c = torch.bincount(batch.neighbors(r_angular).i, minlength=len(atoms))
        ours_triangles = int((c * (c - 1) // 2).sum())
        assert ours_triangles == ani_triangles, f"triangles: minnp {ours_triangles}, TorchANI {ani_triangles}"
    return f"same neighbours (G2 = 4 x ANI radial to {radial_error:.0e}), {ours_triangles:,} triangles both"


def torchani_rows(quick: bool) -> list[Row]:
    """minnp's ACSF against TorchANI's AEVComputer, one thread, values and the forces path."""
    try:
        peer = f"TorchANI {torchani_peer.version()}"
    except ImportError:
        return [Row("TorchANI AEV comparison", float("nan"), "TorchANI", None,
                    note="torchani not installed: pip install -e '.[bench]' (make bench does)")]
    rows = []
    with one_thread():
        systems = [("Si", ["Si"], silicon(2)), ("SiC", ["C", "Si"], silicon_carbide(2)), ("Si", ["Si"], silicon(5))]
        for r_radial, r_angular in ((5.2, 5.2), (5.2, 3.5)):
            one_cutoff = r_radial == r_angular
            for name, symbols, atoms in systems:
                ours = ACSF(symbols, r_cut=r_radial, g2_params=ani_g2(r_radial), g5_params=G5_ANI, periodic=True,
                            r_cut_angular=r_angular)
                setting = f"one cutoff {r_radial} Å" if one_cutoff else f"ANI-1x cutoffs {r_radial}/{r_angular} Å"
                aev = torchani_peer.aev_computer(len(symbols), r_radial, r_angular - 1e-9 if one_cutoff else r_angular)
                check = check_same_environments(ours, aev, atoms, symbols, r_angular)
                rows += _against_aev(ours, aev, atoms, symbols, f"{len(atoms)}-atom {name}, {setting}", check,
                                     peer, repeat=5 if (quick or len(atoms) > 100) else 10)
    return rows


def _against_aev(ours, aev, atoms, symbols, case: str, check: str, peer: str, repeat: int) -> list[Row]:
    """Two rows: values (no graph) and the forces path (a linear head, backward to positions)."""
    n = len(atoms)

    def ours_values():
        with torch.no_grad():
            return ours(atoms_to_batch(atoms))

    def ani_values():
        with torch.no_grad():
            return aev(*_ani_inputs(atoms, symbols, False))

    n_ours = ours_values().shape[1]  # features per atom
    weights_ours = torch.linspace(-1, 1, n_ours, dtype=torch.float64)  # (F,) a linear head
    weights_ani = torch.linspace(-1, 1, aev.out_dim, dtype=torch.float64)

    def ours_forces():
        batch = atoms_to_batch(atoms)
        positions = batch.positions.requires_grad_()
        return torch.autograd.grad((ours(batch) @ weights_ours).sum(), positions)

    def ani_forces():
        species, coords, cell, pbc = _ani_inputs(atoms, symbols, True)
        return torch.autograd.grad((aev(species, coords, cell, pbc) @ weights_ani).sum(), coords)

    rows = []
    for what, ours_fn, ani_fn in (("values", ours_values, ani_values), ("forces path", ours_forces, ani_forces)):
        t_ours, t_ani = interleaved_best_times(ours_fn, ani_fn, repeat=repeat)
        note = (f"{1e6 * t_ours / n:.0f} vs {1e6 * t_ani / n:.0f} µs/atom; F {n_ours} vs {aev.out_dim}"
                + (f"; {check}" if what == "values" else ""))
        rows.append(Row(f"{case}: {what}", t_ours, peer, t_ani, goal=1.0, note=note))
    return rows


def interleaved_best_times(first, second, repeat: int) -> tuple[float, float]:
    """Best wall times of two functions timed in turn (first, second, first, ...) after one
    warm-up each: on a shared machine a busy spell then slows both, not only one."""
    first(), second()
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for k, fn in enumerate((first, second)):
            best[k] = min(best[k], best_time(fn, repeat=1, warmup=0))
    return best[0], best[1]
