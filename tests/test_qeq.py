"""Tests for minnp.electrostatics.qeq: charge equilibration for clusters and periodic cells.

Independent references: the closed-form two-atom solution, the constraint Σq = Q_tot, the
stationarity of E_Qeq (Hellmann–Feynman), finite differences, torch's gradcheck, a direct
NumPy solve of each structure, and the open-boundary limit of a large periodic box.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from conftest import finite_difference_forces
from minnp import Calculator, atoms_to_batch, compute
from minnp.electrostatics import K_E, coulomb_matrices
from minnp.electrostatics.qeq import (QEq, matrix_potential, padded_coulomb_matrices, qeq, qeq_charges, qeq_energies,
                                     solve_qeq)

CHI = {"Na": 2.843, "Cl": 8.564, "H": 4.528, "O": 8.741}
HARDNESS = {"Na": 4.592, "Cl": 9.892, "H": 13.890, "O": 13.364}
SIGMA = {"Na": 1.2, "Cl": 1.0, "H": 0.6, "O": 0.7}


def ionic_cluster(rng, n_pairs: int, charge: float = 0.0, spread: float = 2.5) -> Atoms:
    """n_pairs Na and n_pairs Cl at random, at least 1.6 Å apart, with a total charge."""
    positions = []
    while len(positions) < 2 * n_pairs:
        x = rng.uniform(0, spread * n_pairs ** (1 / 3) + 2, 3)
        if all(np.linalg.norm(x - p) > 1.6 for p in positions):
            positions.append(x)
    atoms = Atoms(f"Na{n_pairs}Cl{n_pairs}", positions=positions)
    atoms.info["charge"] = charge
    return atoms


def per_atom(batch, values):
    from minnp.electrostatics.coulomb import per_atom

    return per_atom(batch, values, "values")


def reference_solve(atoms: Atoms, total_charge: float) -> np.ndarray:
    """The bordered system of one structure, built from the Coulomb matrix and solved by NumPy."""
    batch = atoms_to_batch(atoms)
    m = coulomb_matrices(batch, per_atom(batch, SIGMA))[0].numpy()
    n = len(atoms)
    a = m + np.diag([HARDNESS[s] for s in atoms.get_chemical_symbols()])
    system = np.block([[a, np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    rhs = np.concatenate([[-CHI[s] for s in atoms.get_chemical_symbols()], [total_charge]])
    return np.linalg.solve(system, rhs)[:n]


# ---------------------------------------------------------------------------------------------
# The linear system
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("total_charge", [0.0, 1.0, -2.0, 0.37])
def test_charges_sum_to_the_total_charge(rng, total_charge):
    structures = [ionic_cluster(rng, n, total_charge) for n in (1, 3, 7)]
    structures.append(bulk("NaCl", "rocksalt", a=5.64, cubic=True))  # a periodic cell in the same batch
    structures[-1].info["charge"] = total_charge
    structures[-1].rattle(0.1, seed=1)
    batch = atoms_to_batch(structures)
    q = qeq_charges(batch, per_atom(batch, CHI), per_atom(batch, HARDNESS), per_atom(batch, SIGMA))
    totals = torch.zeros(batch.n_structures, dtype=q.dtype).index_add(0, batch.structure, q)
    np.testing.assert_allclose(totals.numpy(), total_charge, rtol=0, atol=1e-12)


@pytest.mark.parametrize("total_charge", [0.0, 1.0, -0.5])
def test_two_atoms_match_the_closed_form(total_charge):
    atoms = Atoms("NaCl", positions=[[0, 0, 0], [0.3, 2.1, 1.0]])
    q = qeq(atoms, CHI, HARDNESS, SIGMA, total_charge=total_charge)
    r = np.linalg.norm(atoms.positions[1] - atoms.positions[0])
    gamma = math.hypot(SIGMA["Na"], SIGMA["Cl"])
    a11 = HARDNESS["Na"] + K_E / (SIGMA["Na"] * math.sqrt(math.pi))
    a22 = HARDNESS["Cl"] + K_E / (SIGMA["Cl"] * math.sqrt(math.pi))
    a12 = K_E * math.erf(r / (math.sqrt(2) * gamma)) / r
    q1 = (total_charge * (a22 - a12) + CHI["Cl"] - CHI["Na"]) / (a11 + a22 - 2 * a12)
    np.testing.assert_allclose(q, [q1, total_charge - q1], rtol=0, atol=1e-12)
    assert q[0] > q[1]  # the less electronegative Na gives charge to Cl


def test_matrix_is_symmetric_positive_definite(rng):
    atoms = ionic_cluster(rng, 6)
    batch = atoms_to_batch(atoms)
    a = coulomb_matrices(batch, per_atom(batch, SIGMA))[0] + torch.diag(per_atom(batch, HARDNESS))
    np.testing.assert_allclose(a.numpy(), a.numpy().T, atol=1e-13)
    assert torch.linalg.eigvalsh(a).min() > 0


def test_padded_batch_solve_matches_each_structure_alone(rng):
    structures = [ionic_cluster(rng, n, c) for n, c in ((4, 0.0), (1, 1.0), (6, -1.0), (2, 0.5))]
    batch = atoms_to_batch(structures)
    q = qeq_charges(batch, per_atom(batch, CHI), per_atom(batch, HARDNESS), per_atom(batch, SIGMA)).numpy()
    expected = np.concatenate([reference_solve(a, a.info["charge"]) for a in structures])
    np.testing.assert_allclose(q, expected, rtol=0, atol=1e-12)


def test_padded_cluster_matrices_match_the_direct_sum_of_each_structure(rng):
    structures = [ionic_cluster(rng, n) for n in (3, 1, 5)]
    batch = atoms_to_batch(structures)
    padded = padded_coulomb_matrices(batch, per_atom(batch, SIGMA))
    assert padded.shape == (3, 10, 10)
    for b, m in enumerate(coulomb_matrices(batch, per_atom(batch, SIGMA))):
        n = len(m)
        np.testing.assert_allclose(padded[b, :n, :n].numpy(), m.numpy(), rtol=1e-14, atol=0)
        assert (padded[b, n:] == 0).all() and (padded[b, :, n:] == 0).all()


def test_every_atom_ends_with_the_same_electronegativity(rng):
    """Electronegativity equalisation: χ_i + J_i q_i + φ_i = μ for every atom of a structure."""
    structures = [ionic_cluster(rng, 3), ionic_cluster(rng, 5, 1.0)]
    batch = atoms_to_batch(structures)
    chi, hardness, sigma = per_atom(batch, CHI), per_atom(batch, HARDNESS), per_atom(batch, SIGMA)
    matrices = padded_coulomb_matrices(batch, sigma)
    q, mu = solve_qeq(matrices, chi, hardness, batch)
    local = chi + hardness * q + matrix_potential(matrices, q, batch)  # (N,)
    np.testing.assert_allclose(local.numpy(), mu[batch.structure].numpy(), rtol=0, atol=1e-10)
    assert mu[1] > mu[0]  # a cation pulls electrons harder: its electronegativity μ = ∂E/∂q is higher


# ---------------------------------------------------------------------------------------------
# Gradients through the solve
# ---------------------------------------------------------------------------------------------


def test_gradcheck_with_respect_to_chi_and_hardness(rng):
    structures = [ionic_cluster(rng, 2, 1.0), ionic_cluster(rng, 3)]
    batch = atoms_to_batch(structures)
    matrices = padded_coulomb_matrices(batch, per_atom(batch, SIGMA))
    chi = per_atom(batch, CHI).requires_grad_(True)
    hardness = per_atom(batch, HARDNESS).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda c, j: solve_qeq(matrices, c, j, batch)[0], (chi, hardness))
    assert torch.autograd.gradgradcheck(lambda c, j: solve_qeq(matrices, c, j, batch)[0], (chi, hardness))


def test_qeq_forces_match_finite_differences(rng):
    atoms = ionic_cluster(rng, 3, charge=1.0)
    model = QEq(CHI, HARDNESS, SIGMA)
    forces = compute(model, atoms_to_batch(atoms))["forces"].numpy()
    np.testing.assert_allclose(forces, finite_difference_forces(model, atoms), rtol=0, atol=1e-7)


def _energy_and_forces(batch, energy_of_charges, detach: bool):
    """E(x) = energy_of_charges(x, q(x)) and its forces, with q detached from x or not."""
    chi, hardness, sigma = per_atom(batch, CHI), per_atom(batch, HARDNESS), per_atom(batch, SIGMA)
    x = batch.positions.clone().requires_grad_(True)
    moved = batch.replace(positions=x)
    q = qeq_charges(moved, chi, hardness, sigma)
    energy = energy_of_charges(moved, q.detach() if detach else q).sum()
    (grad,) = torch.autograd.grad(energy, x)
    return energy.item(), -grad.numpy()


def test_qeq_energy_forces_are_the_same_with_charges_detached(rng):
    """E_Qeq is stationary in q (Hellmann–Feynman): ∂q/∂x does not contribute to its forces."""
    batch = atoms_to_batch([ionic_cluster(rng, 4, 1.0), ionic_cluster(rng, 2)])
    chi, hardness, sigma = per_atom(batch, CHI), per_atom(batch, HARDNESS), per_atom(batch, SIGMA)

    def e_qeq(b, q):
        return qeq_energies(b, q, chi, hardness, sigma)

    _, attached = _energy_and_forces(batch, e_qeq, detach=False)
    _, detached = _energy_and_forces(batch, e_qeq, detach=True)
    np.testing.assert_allclose(attached, detached, rtol=0, atol=1e-9)
    assert np.abs(attached).max() > 0.1


def e_short(b, q):
    """A smooth energy of the positions and the charges, like a 4G network's short-range part."""
    spread = ((b.positions - b.positions.mean(dim=0)) ** 2).sum(dim=1)  # (N,) Å²
    return 2.0 * q**2 + 0.5 * q**3 + 0.05 * spread * (1 + q)


class ShortRangeOfQeqCharges(torch.nn.Module):
    """E_short(x, q(x)) with the Qeq charges q(x) as an energy module (for finite differences)."""

    def forward(self, b):
        return e_short(b, qeq_charges(b, per_atom(b, CHI), per_atom(b, HARDNESS), per_atom(b, SIGMA)))


def test_detaching_charges_gives_wrong_forces_for_a_short_range_energy_of_q(rng):
    """E_short(q) is not stationary in q: forces need ∂q/∂x, and detaching q is a caught bug."""
    atoms = ionic_cluster(rng, 3, 1.0)
    _, right = _energy_and_forces(atoms_to_batch(atoms), e_short, detach=False)
    _, wrong = _energy_and_forces(atoms_to_batch(atoms), e_short, detach=True)
    fd = finite_difference_forces(ShortRangeOfQeqCharges(), atoms)
    np.testing.assert_allclose(right, fd, rtol=0, atol=1e-7)
    assert np.abs(wrong - fd).max() > 0.1 * np.abs(fd).max()  # the bug: ∂q/∂x left out


# ---------------------------------------------------------------------------------------------
# Periodic cells
# ---------------------------------------------------------------------------------------------


def test_cluster_and_large_periodic_box_give_the_same_charges(rng):
    """Tin-foil Ewald in a box of side L differs from the open cluster by the dipole term
    2πD²/(3V) (1/V in the charges); with that term added they agree like L^-5."""
    cluster = ionic_cluster(rng, 4)
    q_open = qeq(cluster, CHI, HARDNESS, SIGMA)
    errors, corrected = [], []
    for length in (20.0, 40.0):
        box = cluster.copy()
        box.cell, box.pbc = [length] * 3, True
        box.center()
        errors.append(np.abs(qeq(box, CHI, HARDNESS, SIGMA) - q_open).max())
        batch = atoms_to_batch(box)
        m = coulomb_matrices(batch, per_atom(batch, SIGMA))[0]
        x = batch.positions
        m = m + 4 * math.pi * K_E / (3 * length**3) * (x @ x.T)  # vacuum boundary: + 2πD²/(3V)
        q = solve_qeq(m[None], per_atom(batch, CHI), per_atom(batch, HARDNESS), batch)[0].numpy()
        corrected.append(np.abs(q - q_open).max())
    assert errors[1] < 1e-3 and 6 < errors[0] / errors[1] < 10  # ~ (40/20)³ = 8
    assert corrected[1] < 5e-5 and corrected[0] / corrected[1] > 20  # ~ (40/20)⁵ = 32


def test_rock_salt_crystal_has_opposite_equal_charges_and_forces_by_symmetry():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    q = qeq(atoms, CHI, HARDNESS, SIGMA)
    np.testing.assert_allclose(q[atoms.numbers == 11], -q[atoms.numbers == 17], atol=1e-10)
    np.testing.assert_allclose(q[atoms.numbers == 11], q[0], atol=1e-10)
    assert 0.1 < q[0] < 1.0
    atoms.calc = Calculator(QEq(CHI, HARDNESS, SIGMA), device="cpu")
    np.testing.assert_allclose(atoms.get_forces(), 0.0, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# The ASE-level function and errors a learner meets
# ---------------------------------------------------------------------------------------------


def test_ase_function_takes_dicts_arrays_and_the_charge_of_the_structure():
    water = molecule("H2O")
    by_element = qeq(water, CHI, HARDNESS, SIGMA)
    symbols = water.get_chemical_symbols()
    by_atom = qeq(water, [CHI[s] for s in symbols], [HARDNESS[s] for s in symbols], [SIGMA[s] for s in symbols])
    np.testing.assert_allclose(by_element, by_atom, atol=1e-14)
    assert by_element[0] < 0 < by_element[1]
    np.testing.assert_allclose(by_element[1], by_element[2], atol=1e-12)  # the two H by symmetry
    water.info["charge"] = 1.0
    np.testing.assert_allclose(qeq(water, CHI, HARDNESS, SIGMA).sum(), 1.0, atol=1e-12)
    np.testing.assert_allclose(qeq(water, CHI, HARDNESS, SIGMA, total_charge=0.0).sum(), 0.0, atol=1e-12)


def test_bad_input_gets_a_clear_error():
    water = molecule("H2O")
    with pytest.raises(ValueError, match="hardness must be ≥ 0"):
        qeq(water, CHI, {"O": 1.0, "H": -1.0}, SIGMA)
    with pytest.raises(ValueError, match=r"chi has no value for element\(s\) \['O'\]"):
        qeq(water, {"H": 4.5}, HARDNESS, SIGMA)
    with pytest.raises(ValueError, match="sigma .*positive"):
        qeq(water, CHI, HARDNESS, 0.0)
    with pytest.raises(ValueError, match="2 values for 3 atoms"):
        qeq(water, [1.0, 2.0], HARDNESS, SIGMA)


def test_nan_total_charge_or_electronegativity_gets_a_clear_error():
    water = molecule("H2O")
    with pytest.raises(ValueError, match=r"structure\(s\) \[0\] is nan; set atoms.info\['charge'\]"):
        qeq(water, CHI, HARDNESS, SIGMA, total_charge=float("nan"))
    with pytest.raises(ValueError, match="chi of 'O' is nan; give a finite number"):  # not "no value for O"
        qeq(water, {**CHI, "O": float("nan")}, HARDNESS, SIGMA)
    with pytest.raises(ValueError, match=r"hardness contain NaN or inf at atoms \[2\]; give finite numbers"):
        qeq(water, CHI, [1.0, 2.0, float("inf")], SIGMA)
    # the tensor level (a 4G network whose electronegativities diverged)
    batch = atoms_to_batch(water)
    matrices = padded_coulomb_matrices(batch, per_atom(batch, SIGMA))
    chi = per_atom(batch, CHI)
    chi[1] = float("nan")
    with pytest.raises(ValueError, match=r"chi \(electronegativity\) is NaN or inf at atoms \[1\]"):
        solve_qeq(matrices, chi, per_atom(batch, HARDNESS), batch)


@pytest.mark.parametrize("sigma", [1e5, 1e10])  # nearly singular in floating point, and exactly
def test_singular_system_gets_one_clear_error(sigma):
    # J = 0 and widths far beyond the distances: every charge distribution costs the same energy
    pair = Atoms("NaCl", positions=[[0, 0, 0], [2.4, 0, 0]])
    with pytest.raises(ValueError, match="system of structure 0 is singular.*hardness J > 0.*smaller sigma"):
        qeq(pair, CHI, 0.0, sigma)


def test_exactly_singular_matrix_gets_the_same_error_not_nan():
    batch = atoms_to_batch(Atoms("NaCl", positions=[[0, 0, 0], [2.4, 0, 0]]))
    zero = torch.zeros(1, 2, 2, dtype=torch.float64)  # A = 0: the bordered system has rank 2 of 3
    with pytest.raises(ValueError, match="singular"):
        solve_qeq(zero, per_atom(batch, CHI), torch.zeros(2, dtype=torch.float64), batch)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu(rng):
    structures = [ionic_cluster(rng, 3, 1.0), ionic_cluster(rng, 5)]
    model = QEq(CHI, HARDNESS, SIGMA)
    cpu = compute(model, atoms_to_batch(structures))
    gpu = compute(model, atoms_to_batch(structures, device="cuda"))
    for key in ("energy", "forces"):
        np.testing.assert_allclose(gpu[key].cpu().numpy(), cpu[key].numpy(), rtol=0, atol=1e-10)
    batch = atoms_to_batch(structures, device="cuda")
    q_gpu = model.charges(batch).cpu().numpy()
    np.testing.assert_allclose(q_gpu, model.charges(atoms_to_batch(structures)).numpy(), atol=1e-12)
