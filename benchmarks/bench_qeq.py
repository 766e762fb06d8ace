"""Qeq: charge equilibration + electrostatic energy and forces per structure, 10-1000 atoms, float64

What a 4G network pays for its charges. Each case times minnp's ``QEq`` energy module through
``minnp.compute`` (Coulomb matrix, bordered linear solve, energy, forces by autograd through the
solve) against the same electrostatics with the charges fixed (``Coulomb``: no solve), so the
"speed-up" column is the cost of equilibrating (< 1: Qeq is slower). Clusters use the direct sum,
rock-salt cells the Ewald matrix (accuracy 1e-8). Notes split the Qeq time into building M and
the dense solve alone (``torch.linalg.solve`` on the (n+1)x(n+1) system): the matrix is O(n²)
(clusters) and the solve O(n³), so above some size the solve dominates. The "dense solve vs
build M" rows (no forces) go to 4000 atoms and report that crossover (measured, or extrapolated
from the largest size). Building M is memory-bound (several n² float64 temporaries, kept for the
backward pass: ~1 GB at 4000 atoms), so it stays the larger cost for longer than the flop counts
suggest; either way a dense Qeq stops being practical at a few thousand atoms per structure, where
an iterative solver with a matrix-free potential (PME) would be the next step. Periodic cells pay more: Qeq needs the whole
Ewald matrix (O(n² K) with K k-vectors), fixed charges only the structure factor (O(n K)). One row
checks the solve itself against SciPy's LAPACK call. On a GPU the cluster cases run there too.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from ase import Atoms
from ase.build import bulk

from benchmarks.harness import Row, best_time
from minnp import atoms_to_batch, compute
from minnp.electrostatics import Coulomb, QEq, padded_coulomb_matrices

CHI = {"Na": 2.843, "Cl": 8.564}
HARDNESS = {"Na": 4.592, "Cl": 9.892}
SIGMA = {"Na": 1.868, "Cl": 0.994}
CHARGES = {"Na": 0.4, "Cl": -0.4}


def cluster(n: int, seed: int = 0) -> Atoms:
    """n/2 Na and n/2 Cl on a jittered rock-salt grid cut to a sphere-ish blob (liquid density)."""
    side = int(np.ceil(n ** (1 / 3))) + 1
    grid = np.array([(i, j, k) for i in range(side) for j in range(side) for k in range(side)], dtype=float)
    grid = grid[np.argsort(((grid - grid.mean(0)) ** 2).sum(1))][:n]
    symbols = ["Na" if int(p.sum()) % 2 == 0 else "Cl" for p in grid]
    rng = np.random.default_rng(seed)
    return Atoms(symbols, positions=2.82 * grid + rng.normal(0, 0.1, grid.shape))


def crystal(repeat: int) -> Atoms:
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (repeat, repeat, repeat)
    atoms.rattle(0.05, seed=1)
    return atoms


def parts(atoms: Atoms, device: str) -> tuple[float, float]:
    """Seconds to build M (padded) and to solve the bordered system alone."""
    model = QEq(CHI, HARDNESS, SIGMA)
    batch = atoms_to_batch(atoms, device=device)
    chi, hardness, sigma = model.per_atom(batch)
    matrix_s = best_time(lambda: padded_coulomb_matrices(batch, sigma), repeat=3)
    m = padded_coulomb_matrices(batch, sigma)[0]
    n = len(atoms)
    system = torch.zeros(n + 1, n + 1, dtype=m.dtype, device=m.device)
    system[:n, :n] = m + torch.diag(hardness)
    system[:n, n] = system[n, :n] = 1.0
    rhs = torch.cat([-chi, batch.total_charge])
    solve_s = best_time(lambda: torch.linalg.solve(system, rhs), repeat=3)
    return matrix_s, solve_s


def case(name: str, atoms: Atoms, device: str) -> tuple[Row, float, float]:
    batch = atoms_to_batch(atoms, device=device)
    qeq_model = QEq(CHI, HARDNESS, SIGMA)
    fixed = Coulomb(CHARGES, sigma=SIGMA)
    compute(qeq_model, batch)  # neighbour lists (periodic) built once, cached on the batch
    qeq_s = best_time(lambda: compute(qeq_model, batch), repeat=3)
    fixed_s = best_time(lambda: compute(fixed, batch), repeat=3)
    matrix_s, solve_s = parts(atoms, device)
    note = f"build M {1e3 * matrix_s:.2f} ms, dense solve {1e3 * solve_s:.2f} ms"
    return Row(f"{name}, {len(atoms)} atoms, {device}", qeq_s, "fixed charges", fixed_s, note=note), matrix_s, solve_s


def run(quick: bool) -> list[Row]:
    sizes = [10, 30, 100] if quick else [10, 30, 100, 300, 1000]
    repeats = [1, 2] if quick else [1, 2, 3, 5]  # 8, 64, 216, 1000 ions
    scaling = [300, 1000, 2000] if quick else [300, 1000, 2000, 3000, 4000]
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for n in sizes:
            rows.append(case("Qeq E+F cluster", cluster(n), device)[0])
        if device == "cpu":
            for repeat in repeats:
                rows.append(case("Qeq+Ewald E+F rock salt", crystal(repeat), device)[0])
        # where the dense solve stops scaling: solve alone (O(n³)) against building M (O(n²))
        crossover = None
        for n in scaling:
            matrix_s, solve_s = parts(cluster(n), device)
            rows.append(Row(f"dense solve vs build M, cluster {n} atoms, {device}", solve_s, "build M", matrix_s,
                            note=f"solve/M = {solve_s / matrix_s:.2f}"))
            if crossover is None and solve_s > matrix_s:
                crossover = n
        if crossover is not None:
            rows[-1].note += f"; the O(n³) solve overtakes the O(n²) matrix by n = {crossover}"
        else:  # extrapolate from the largest size: solve/M grows like n
            ratio = rows[-1].minnp_s / rows[-1].peer_s
            rows[-1].note += (f"; solve still cheaper at n = {scaling[-1]}, overtakes M near n ≈ "
                              f"{scaling[-1] / ratio:.0f} (extrapolated, solve/M ∝ n)")

    # the solve itself against LAPACK through SciPy (same bordered system, no gradients)
    n = sizes[-1]
    atoms = cluster(n)
    batch = atoms_to_batch(atoms)
    model = QEq(CHI, HARDNESS, SIGMA)
    chi, hardness, sigma = model.per_atom(batch)
    m = padded_coulomb_matrices(batch, sigma)[0]
    system = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    system[:n, :n] = m + torch.diag(hardness)
    system[:n, n] = system[n, :n] = 1.0
    rhs = torch.cat([-chi, batch.total_charge])
    a, b = system.numpy(), rhs.numpy()
    torch_s = best_time(lambda: torch.linalg.solve(system, rhs), repeat=5)
    scipy_s = best_time(lambda: scipy.linalg.solve(a, b), repeat=5)
    difference = np.abs(torch.linalg.solve(system, rhs).numpy() - scipy.linalg.solve(a, b)).max()
    rows.append(Row(f"dense solve alone, {n + 1}x{n + 1}, cpu", torch_s, "scipy.linalg.solve", scipy_s,
                    note=f"max |Δq| = {difference:.1e} e"))
    return rows
