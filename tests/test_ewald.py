"""Tests for minnp.electrostatics: direct sums, Ewald summation, point and Gaussian charges.

Independent references: Madelung constants from the literature, pymatgen's EwaldSummation,
torch-pme's EwaldCalculator, a pure reciprocal-space sum for Gaussian charges (written here in
NumPy), the open-boundary direct sum, numerical quadrature, and finite differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from scipy import integrate, special

from conftest import finite_difference_forces, finite_difference_stress, peer
from minnp import Calculator, atoms_to_batch, compute
from minnp.electrostatics import (
    K_E,
    Coulomb,
    coulomb_energies,
    coulomb_energy,
    coulomb_matrices,
    coulomb_matrix,
    coulomb_potential,
    ewald_parameters,
    gaussian_self_energy,
    half_kvectors,
)
from minnp.electrostatics.ewald import real_space_pairs


def random_cell(rng, n: int, charged: bool = False, length: float = 7.0,
                species: str = "Na") -> tuple[Atoms, np.ndarray]:
    """A triclinic cell with n random ions and random charges (neutral unless ``charged``)."""
    cell = length * (np.eye(3) + 0.25 * rng.uniform(-1, 1, size=(3, 3)))
    atoms = Atoms(species * n, scaled_positions=rng.uniform(size=(n, 3)), cell=cell, pbc=True)
    q = rng.normal(size=n)
    if not charged:
        q -= q.mean()
    return atoms, q


def energy_and_forces(atoms, q, sigma=None, **kw):
    batch = atoms_to_batch(atoms)
    x = batch.positions.clone().requires_grad_(True)
    s = None if sigma is None else torch.as_tensor(sigma, dtype=torch.float64)
    e = coulomb_energies(batch.replace(positions=x), torch.as_tensor(q), s, **kw).sum()
    (grad,) = torch.autograd.grad(e, x)
    return e.item(), -grad.numpy()


# ---------------------------------------------------------------------------------------------
# Madelung constants (literature values; wurtzite's is known to 7 digits and checked against
# pymatgen to 1e-8 in test_matches_pymatgen_...)
# ---------------------------------------------------------------------------------------------

A = 5.0
C_WZ = A * math.sqrt(8 / 3)  # ideal wurtzite, u = 3/8
MADELUNG = {
    # name: (atoms, charges, length the constant is referred to, formula units, literature value)
    "NaCl primitive": (bulk("NaCl", "rocksalt", a=A), [1, -1], A / 2, 1, 1.7475645946331822),
    "NaCl cubic": (bulk("NaCl", "rocksalt", a=A, cubic=True), [1, -1] * 4, A / 2, 4, 1.7475645946331822),
    "CsCl": (bulk("CsCl", "cesiumchloride", a=A), [1, -1], A, 1, 2.0353615095),
    "CsCl (nearest neighbour)": (bulk("CsCl", "cesiumchloride", a=A), [1, -1], A * math.sqrt(3) / 2, 1,
                                 1.7626747730709884),
    "zincblende": (bulk("ZnS", "zincblende", a=A), [1, -1], A * math.sqrt(3) / 4, 1, 1.6380550533),
    "wurtzite": (bulk("ZnO", "wurtzite", a=A, c=C_WZ, u=3 / 8), [1, -1, 1, -1], A * math.sqrt(3 / 8), 2,
                 1.641321),
    "fluorite": (bulk("CaF2", "fluorite", a=A), [2, -1, -1], A, 1, 11.6365752270768),
    "Cu2O": (Atoms("O2Cu4", scaled_positions=[(0, 0, 0), (.5, .5, .5), (.25, .25, .25), (.75, .75, .25),
                                                (.75, .25, .75), (.25, .75, .75)], cell=[A] * 3, pbc=True),
             [-2, -2, 1, 1, 1, 1], A, 2, 10.2594570330750),
}


@pytest.mark.parametrize("name", MADELUNG)
def test_madelung_constants_match_literature(name):
    atoms, q, length, units, literature = MADELUNG[name]
    madelung = -coulomb_energy(atoms, q) / units * length / K_E  # default accuracy 1e-8
    digits = 1e-6 if name == "wurtzite" else 1e-8  # published to 7 significant digits
    assert abs(madelung - literature) / literature < digits


def test_nacl_through_the_ase_calculator_gives_madelung_energy_and_hydrostatic_stress():
    atoms = bulk("NaCl", "rocksalt", a=A, cubic=True)
    atoms.calc = Calculator(Coulomb({"Na": 1, "Cl": -1}))
    energy = atoms.get_potential_energy()
    madelung_energy = -4 * 1.7475645946331822 * K_E / (A / 2)
    assert abs(energy - madelung_energy) < 1e-8 * abs(madelung_energy)
    # E ∝ 1/a, so dE/dε = -E under a uniform strain: σ_ii = -E/(3V), no shear
    stress = atoms.get_stress()  # the derivative of a sum truncated at 1e-8: good to ~1e-7
    np.testing.assert_allclose(stress[:3], -energy / (3 * atoms.get_volume()), rtol=1e-6)
    np.testing.assert_allclose(stress[3:], 0, atol=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), 0, atol=1e-10)  # every ion at an inversion centre


# ---------------------------------------------------------------------------------------------
# Independence of the splitting width; Gaussian charges against a pure reciprocal sum
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("charged", [False, True])
@pytest.mark.parametrize("gaussian", [False, True])
def test_energy_is_independent_of_splitting_width(charged, gaussian):
    rng = np.random.default_rng(1)
    atoms, q = random_cell(rng, 8, charged, length=6.0)
    sigma = torch.tensor(rng.uniform(0.6, 1.2, len(atoms))) if gaussian else None
    batch = atoms_to_batch(atoms)
    energies = [float(coulomb_energies(batch, torch.tensor(q), sigma, accuracy=1e-13, eta=eta).sum())
                for eta in (0.5, 1.0, 1.7, 2.5, 4.0)]  # η below and above the widths σ
    assert max(energies) - min(energies) < 1e-8  # eV


def gaussian_reciprocal_sum(atoms: Atoms, q: np.ndarray, sigma: np.ndarray) -> float:
    """E = (2π/V) Σ_{k≠0} |ρ(k)|²/k² of Gaussian charges, ρ(k) = Σ_j q_j exp(-σ_j²k²/2 + i k·r_j).

    No real-space part and no η at all: an independent route to the energy of periodic Gaussian
    charges including their self energy and, for Q ≠ 0, the generalised background term.
    """
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    k_max = 8.0 / sigma.min()  # exp(-σ²k²) < 1e-27 beyond
    n = [math.ceil(k_max * np.linalg.norm(a) / (2 * np.pi)) for a in cell]
    m = np.stack(np.meshgrid(*[np.arange(-i, i + 1) for i in n], indexing="ij"), -1).reshape(-1, 3)
    k = m[np.abs(m).sum(1) > 0] @ (2 * np.pi * np.linalg.inv(cell).T)
    k2 = (k**2).sum(1)
    rho = (q * np.exp(-0.5 * k2[:, None] * sigma**2 + 1j * k @ atoms.positions.T)).sum(1)
    return K_E * 2 * np.pi / volume * float((np.abs(rho) ** 2 / k2).sum())


@pytest.mark.parametrize("charged", [False, True])
def test_gaussian_ewald_matches_pure_reciprocal_sum(charged):
    rng = np.random.default_rng(2)
    atoms, q = random_cell(rng, 8, charged, length=6.0)
    sigma = rng.uniform(0.8, 1.3, len(atoms))
    energy = coulomb_energy(atoms, q, sigma=sigma, accuracy=1e-12)
    assert abs(energy - gaussian_reciprocal_sum(atoms, q, sigma)) < 1e-10


def test_gaussian_self_energy_matches_quadrature():
    # E_self = ½ ∫ ρ φ d³r, with φ(r) = q erf(r/(√2σ))/r the potential of the Gaussian itself
    q, sigma = 1.3, 0.7
    rho = lambda r: q * (2 * np.pi * sigma**2) ** -1.5 * np.exp(-r * r / (2 * sigma**2))  # noqa: E731
    phi = lambda r: q * special.erf(r / (math.sqrt(2) * sigma)) / r  # noqa: E731
    quadrature = 0.5 * integrate.quad(lambda r: 4 * np.pi * r * r * rho(r) * phi(r), 0, 20 * sigma,
                                      epsabs=1e-14, epsrel=1e-13)[0]
    q_t, sigma_t = torch.tensor(q, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)
    self_energy = float(gaussian_self_energy(q_t, sigma_t))
    assert abs(self_energy - K_E * quadrature) < 1e-10


def test_gaussian_charges_become_point_charges_as_sigma_shrinks():
    rng = np.random.default_rng(3)
    cluster = Atoms("Na6", positions=rng.uniform(0, 4, (6, 3)))
    for atoms, q in (random_cell(rng, 6), (cluster, rng.normal(size=6))):
        point = coulomb_energy(atoms, q)
        sigma = np.full(len(atoms), 0.02)  # 0.02 Å: erfc(r/(√2 γ)) ~ 0 at the closest pairs
        gaussian = coulomb_energy(atoms, q, sigma=sigma)
        self_energy = float(gaussian_self_energy(torch.tensor(q), torch.tensor(sigma)).sum())
        assert abs(gaussian - self_energy - point) < 1e-8 * abs(point)


# ---------------------------------------------------------------------------------------------
# Peer codes: pymatgen and torch-pme
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("charged", [False, True])
def test_matches_pymatgen_energy_and_forces(charged):
    EwaldSummation = peer("pymatgen.analysis.ewald").EwaldSummation
    AseAtomsAdaptor = peer("pymatgen.io.ase").AseAtomsAdaptor

    rng = np.random.default_rng(4)
    for _ in range(3):
        atoms, q = random_cell(rng, 10, charged)
        structure = AseAtomsAdaptor.get_structure(atoms)
        structure.add_site_property("charge", list(q))
        ewald = EwaldSummation(structure, acc_factor=16, compute_forces=True)
        scale = K_E / EwaldSummation.CONV_FACT  # pymatgen's k_e differs by 7e-10 relative
        energy, forces = energy_and_forces(atoms, q)
        assert abs(energy - scale * ewald.total_energy) < 1e-7 * abs(energy)
        assert np.abs(forces - scale * ewald.forces).max() < 1e-7 * np.abs(forces).max()


def test_wurtzite_madelung_constant_matches_pymatgen():
    EwaldSummation = peer("pymatgen.analysis.ewald").EwaldSummation
    AseAtomsAdaptor = peer("pymatgen.io.ase").AseAtomsAdaptor

    atoms, q, *_ = MADELUNG["wurtzite"]
    structure = AseAtomsAdaptor.get_structure(atoms)
    structure.add_site_property("charge", q)
    reference = EwaldSummation(structure, acc_factor=20).total_energy * K_E / EwaldSummation.CONV_FACT
    assert abs(coulomb_energy(atoms, q) - reference) < 1e-8 * abs(reference)


def torchpme_neighbors(atoms, r_cut):
    vesin = peer("vesin")

    i, j, shift = vesin.NeighborList(cutoff=r_cut, full_list=False).compute(
        atoms.positions, atoms.cell.array, True, "ijS")
    pairs = torch.tensor(np.stack([i, j], 1).astype(np.int64))
    positions, cell = torch.tensor(atoms.positions), torch.tensor(atoms.cell.array)
    offsets = torch.tensor(shift, dtype=torch.float64) @ cell
    distances = positions[pairs[:, 1]] - positions[pairs[:, 0]] + offsets
    return positions, cell, pairs, distances.norm(dim=1)


def test_potential_and_matrix_match_torchpme_ewald():
    torchpme = peer("torchpme")
    rng = np.random.default_rng(5)
    eta = 1.5
    for _ in range(3):
        atoms, q = random_cell(rng, 10)
        r_cut = math.sqrt(-math.log(1e-14)) * math.sqrt(2) * eta
        positions, cell, pairs, distances = torchpme_neighbors(atoms, r_cut)
        potential = torchpme.CoulombPotential(smearing=eta, prefactor=torchpme.prefactors.eV_A)
        calculator = torchpme.EwaldCalculator(potential, lr_wavelength=eta / 4)
        reference = 2 * calculator(torch.tensor(q)[:, None], cell, positions, pairs, distances)[:, 0]
        batch = atoms_to_batch(atoms)
        phi = coulomb_potential(batch, torch.tensor(q), accuracy=1e-14)
        assert (phi - reference).abs().max() < 1e-11
        # M = 2 × torch-pme's potential of unit charges, one column per atom
        unit = 2 * calculator(torch.eye(len(atoms), dtype=torch.float64), cell, positions, pairs, distances)
        assert (coulomb_matrices(batch, accuracy=1e-14)[0] - unit).abs().max() < 1e-11


def test_pme_agrees_with_ewald_for_point_and_gaussian_charges():
    peer("torchpme")
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    atoms.rattle(0.2, seed=1)
    q = np.array([1.0, -1.0] * (len(atoms) // 2)) * 0.8
    scale = abs(coulomb_energy(atoms, q))  # the lattice energy of the point charges, eV
    for sigma in (None, {"Na": 0.9, "Cl": 1.3}):
        ewald = coulomb_energy(atoms, q, sigma=sigma)
        pme = coulomb_energy(atoms, q, sigma=sigma, method="pme")
        assert abs(pme - ewald) < 1e-7 * scale


# ---------------------------------------------------------------------------------------------
# Clusters: the direct sum and the limit of a growing box
# ---------------------------------------------------------------------------------------------


def test_neutral_cluster_in_growing_box_approaches_direct_sum_as_inverse_fifth_power():
    rng = np.random.default_rng(6)
    x = rng.uniform(-2, 2, (8, 3))
    q = rng.normal(size=8)
    q -= q.mean()
    direct = coulomb_energy(Atoms("Na8", positions=x), q)
    dipole = q @ x
    sizes = np.array([20.0, 30.0, 45.0])
    errors = []
    for length in sizes:
        atoms = Atoms("Na8", positions=x + length / 2, cell=[length] * 3, pbc=True)
        # tin-foil Ewald + the dipole term of a cubic box = the open-boundary energy + O(L^-5)
        ewald = coulomb_energy(atoms, q) + K_E * 2 * np.pi * dipole @ dipole / (3 * length**3)
        errors.append(abs(ewald - direct))
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert -5.3 < slope < -4.7 and errors[-1] < 1e-4


def test_direct_sum_of_two_gaussians_is_erf_over_r_plus_self_energies():
    r, q, sigma = 1.7, np.array([0.8, -0.5]), np.array([0.6, 1.1])
    atoms = Atoms("NaCl", positions=[(0, 0, 0), (r, 0, 0)])
    gamma = math.hypot(*sigma)
    expected = K_E * (q[0] * q[1] * math.erf(r / (math.sqrt(2) * gamma)) / r
                      + (q**2 / (2 * sigma * math.sqrt(math.pi))).sum())
    assert abs(coulomb_energy(atoms, q, sigma=sigma) - expected) < 1e-12
    m = coulomb_matrix(atoms, sigma=sigma)
    np.testing.assert_allclose(np.diag(m), K_E / (sigma * math.sqrt(math.pi)), rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# Forces, stress, symmetry
# ---------------------------------------------------------------------------------------------


class FixedCharges(torch.nn.Module):
    """Given charges (and widths) per atom as an energy module, for conftest's finite differences."""

    def __init__(self, q, sigma=None):
        super().__init__()
        self.q, self.sigma = torch.as_tensor(q), sigma

    def forward(self, batch):
        return coulomb_energies(batch, self.q, self.sigma)


@pytest.mark.parametrize("case", ["periodic", "charged periodic gaussian", "cluster", "cluster gaussian"])
def test_forces_match_finite_differences(case):
    rng = np.random.default_rng(7)
    if "cluster" in case:
        atoms, q = Atoms("Na5", positions=rng.uniform(0, 4, (5, 3))), rng.normal(size=5)
    else:
        atoms, q = random_cell(rng, 5, charged="charged" in case, length=5.0)
    sigma = torch.tensor(rng.uniform(0.6, 1.0, 5)) if "gaussian" in case else None
    _, forces = energy_and_forces(atoms, q, sigma)
    fd = finite_difference_forces(FixedCharges(q, sigma), atoms)
    assert np.abs(forces - fd).max() < 1e-7  # eV/Å


def test_forces_sum_to_zero_and_energy_is_rotation_invariant():
    rng = np.random.default_rng(8)
    atoms, q = random_cell(rng, 12, charged=True)
    sigma = rng.uniform(0.5, 1.0, len(atoms))
    energy, forces = energy_and_forces(atoms, q, sigma)
    assert np.abs(forces.sum(axis=0)).max() < 1e-10
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ rotation.T)
    rotated.positions = atoms.positions @ rotation.T
    energy_r, forces_r = energy_and_forces(rotated, q, sigma)
    assert abs(energy_r - energy) < 1e-9 * abs(energy)
    assert np.abs(forces_r - forces @ rotation.T).max() < 1e-8


def test_stress_matches_strain_derivative():
    rng = np.random.default_rng(9)
    atoms, _ = random_cell(rng, 6, length=5.0)
    atoms.numbers = [11, 17] * 3
    model = Coulomb({"Na": 0.7, "Cl": -0.7}, sigma={"Na": 0.8, "Cl": 1.2}, accuracy=1e-14)
    stress = compute(model, atoms_to_batch(atoms), forces=False, stress=True)["stress"][0].numpy()
    entries = [(0, 0), (1, 2), (2, 1), (0, 1)]
    fd = finite_difference_stress(model, atoms, entries, h=1e-5)
    for a, b in entries:
        assert abs(fd[a, b] - stress[a, b]) < 1e-8


# ---------------------------------------------------------------------------------------------
# The matrix M and batches
# ---------------------------------------------------------------------------------------------


def mixed_batch(rng):
    structures = [random_cell(rng, 7)[0], random_cell(rng, 4, length=5.0)[0],
                  Atoms("Na5", positions=rng.uniform(0, 3, (5, 3))), bulk("NaCl", "rocksalt", a=5.64)]
    return structures, rng.normal(size=sum(len(a) for a in structures))


@pytest.mark.parametrize("gaussian", [False, True])
def test_matrix_gives_energy_and_potential_for_every_structure_of_a_batch(gaussian):
    rng = np.random.default_rng(10)
    structures, q = mixed_batch(rng)  # clusters, neutral and charged cells, different sizes
    batch = atoms_to_batch(structures)
    q = torch.tensor(q)
    sigma = torch.tensor(rng.uniform(0.5, 1.0, len(q))) if gaussian else None
    phi = coulomb_potential(batch, q, sigma)
    per_structure = coulomb_energies(batch, q, sigma, per_atom=False)
    per_atom = coulomb_energies(batch, q, sigma)
    ptr = batch.ptr.tolist()
    for s, m in enumerate(coulomb_matrices(batch, sigma)):
        lo, hi = ptr[s], ptr[s + 1]
        assert m.shape == (hi - lo, hi - lo)
        assert (m - m.T).abs().max() < 1e-12
        torch.testing.assert_close(m @ q[lo:hi], phi[lo:hi], rtol=0, atol=1e-11)
        assert abs(0.5 * q[lo:hi] @ m @ q[lo:hi] - per_structure[s]) < 1e-10
        assert abs(per_atom[lo:hi].sum() - per_structure[s]) < 1e-10
        # one structure alone gives the same energy (its own η; the batch's r_cut is the largest)
        sigma_s = None if sigma is None else sigma[lo:hi].numpy()
        alone = coulomb_energy(structures[s], q[lo:hi].numpy(), sigma_s)
        assert abs(alone - per_structure[s]) < 1e-8 * abs(alone) + 1e-12


def test_each_structure_of_a_batch_keeps_its_own_real_space_cutoff():
    # a 60 Å box needs a wide splitting (η ~ 14 Å, r_cut ~ 82 Å); with one cutoff for the batch the
    # 2-atom rock-salt cell beside it would sum 296,202 pairs instead of its own 36
    small = bulk("NaCl", "rocksalt", a=5.64)
    box = Atoms("NaCl", positions=[(10, 10, 10), (40, 35, 30)], cell=[60.0] * 3, pbc=True)
    batch = atoms_to_batch([small, box])
    params = ewald_parameters(batch)
    alone = [ewald_parameters(atoms_to_batch(a)) for a in (small, box)]
    assert params.r_cut == [p.r_cut[0] for p in alone] and params.eta == [p.eta[0] for p in alone]
    pairs = real_space_pairs(batch, params)
    in_small = int((batch.structure[pairs.i] == 0).sum())
    assert in_small == len(real_space_pairs(atoms_to_batch(small), alone[0])) == 36
    assert len(pairs) < 100
    q = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=torch.float64)
    energies = coulomb_energies(batch, q, per_atom=False)
    assert abs(energies[0] - coulomb_energy(small, [1.0, -1.0])) < 1e-12
    assert abs(energies[1] - coulomb_energy(box, [0.5, -0.5])) < 1e-12


def test_energy_gradient_with_respect_to_charges_is_the_potential():
    # charges from a network or from Qeq carry gradients: dE/dq_i = φ_i = (M q)_i
    rng = np.random.default_rng(13)
    structures, q = mixed_batch(rng)
    batch = atoms_to_batch(structures)
    q = torch.tensor(q, requires_grad=True)
    sigma = torch.tensor(rng.uniform(0.5, 1.0, len(q)))
    for per_atom in (True, False):
        energy = coulomb_energies(batch, q, sigma, per_atom=per_atom).sum()
        (grad,) = torch.autograd.grad(energy, q)
        torch.testing.assert_close(grad, coulomb_potential(batch, q.detach(), sigma), rtol=0, atol=1e-11)


def test_matrix_is_differentiable_in_positions_and_cell():
    rng = np.random.default_rng(11)
    atoms, _ = random_cell(rng, 3, length=4.0)
    batch = atoms_to_batch(atoms)
    sigma = torch.tensor([0.5, 0.8, 0.7])
    hardness = torch.tensor([3.0, 4.0, 5.0])

    def charges(positions, cell):  # what charge equilibration does: solve (M + diag J) q = -χ
        m = coulomb_matrices(batch.replace(positions=positions, cell=cell[None]), sigma, accuracy=1e-12)[0]
        return torch.linalg.solve(m + torch.diag(hardness), -torch.tensor([1.0, -0.5, 0.2], dtype=m.dtype))

    x = batch.positions.clone().requires_grad_(True)
    cell = batch.cell[0].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(charges, (x, cell), eps=1e-6, atol=1e-6)


def test_kvectors_are_half_of_the_sphere():
    cell = torch.tensor([[5.0, 0.3, 0.0], [1.1, 4.0, 0.2], [-0.4, 0.6, 6.0]], dtype=torch.float64)
    k = half_kvectors(cell, 3.0)
    assert (k.norm(dim=1) <= 3.0 + 1e-12).all() and (k.norm(dim=1) > 0).all()
    both = torch.cat([k, -k])
    assert len(torch.unique(both.round(decimals=8), dim=0)) == 2 * len(k)  # no k together with -k
    m = k @ cell.T / (2 * math.pi)  # integer coordinates
    assert (m - m.round()).abs().max() < 1e-10
    # every lattice point of the sphere is there: count them by brute force
    grid = torch.stack(torch.meshgrid(*[torch.arange(-12, 13)] * 3, indexing="ij"), -1)
    grid = grid.reshape(-1, 3).double()
    kk = grid @ (2 * math.pi * torch.linalg.inv(cell).T)
    n = ((kk.norm(dim=1) <= 3.0) & (kk.norm(dim=1) > 0)).sum()
    assert 2 * len(k) == n


def test_parameters_follow_the_requested_accuracy():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    batch = atoms_to_batch(atoms)
    p = ewald_parameters(batch, accuracy=1e-8, eta=1.5)
    s = math.sqrt(-math.log(1e-8))
    assert p.eta == [1.5]
    assert math.isclose(p.r_cut[0], s * math.sqrt(2) * 1.5)
    assert math.isclose(p.k_cut[0], math.sqrt(2) * s / 1.5)
    wide = ewald_parameters(batch, accuracy=1e-8, eta=0.5, sigma=torch.full((len(atoms),), 2.0))
    assert math.isclose(wide.r_cut[0], s * math.sqrt(2) * math.sqrt(2) * 2.0)  # covers √2 γ_max
    q = [1, -1] * 4
    errors = [abs(coulomb_energy(atoms, q, accuracy=a) - coulomb_energy(atoms, q, accuracy=1e-14))
              for a in (1e-4, 1e-6, 1e-8)]
    energy = abs(coulomb_energy(atoms, q))
    assert errors[0] < 1e-4 * energy and errors[1] < 1e-6 * energy and errors[2] < 1e-8 * energy


# ---------------------------------------------------------------------------------------------
# Bad input, devices
# ---------------------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_error():
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    with pytest.raises(ValueError, match="NaN"):
        coulomb_energy(atoms, [1.0, float("nan")])
    with pytest.raises(ValueError, match="one value per atom"):
        coulomb_energy(atoms, [1.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="positive"):
        coulomb_energy(atoms, [1.0, -1.0], sigma=[1.0, 0.0])
    with pytest.raises(ValueError, match="Cl"):
        coulomb_energy(atoms, [1.0, -1.0], sigma={"Na": 1.0})
    slab = atoms.copy()
    slab.pbc = [True, True, False]
    with pytest.raises(ValueError, match="pbc"):
        coulomb_energy(slab, [1.0, -1.0])
    batch = atoms_to_batch(atoms)
    flat = batch.replace(cell=batch.cell * torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)[:, None])
    with pytest.raises(ValueError, match="singular"):
        coulomb_energies(flat, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="method"):
        coulomb_energy(atoms, [1.0, -1.0], method="p3m")
    with pytest.raises(ValueError, match="accuracy"):
        coulomb_energy(atoms, [1.0, -1.0], accuracy=2.0)


@pytest.mark.parametrize("pbc", [False, True])
@pytest.mark.parametrize("gaussian", [False, True])
def test_two_atoms_at_the_same_position_get_a_clear_error(pbc, gaussian):
    # 1/0 (point) or 0/0 (Gaussian kernel): an error naming the atoms, never -inf or NaN;
    # raw tensors, so the check of atoms_to_batch is bypassed
    batch = atoms_to_batch(Atoms("Na3", positions=[(0, 0, 0), (1, 1, 1), (2, 0, 0)], cell=[6.0] * 3, pbc=pbc))
    moved = batch.replace(positions=batch.positions * torch.tensor([[1.0], [1.0], [0.0]]).double())
    sigma = torch.full((3,), 0.8, dtype=torch.float64) if gaussian else None
    with pytest.raises(ValueError, match="atoms 0 and 2 of structure 0 are at the same position.*remove"):
        coulomb_energies(moved, torch.tensor([1.0, -0.5, -0.5]), sigma)
    with pytest.raises(ValueError, match="same position"):
        coulomb_matrices(moved, sigma)


def test_same_position_error_names_the_structure_in_a_mixed_batch():
    batch = atoms_to_batch([bulk("NaCl", "rocksalt", a=5.64), Atoms("Na2", positions=[(0, 0, 0), (1, 0, 0)])])
    x = batch.positions.clone()
    x[3] = x[2]  # the cluster's two atoms on one site
    with pytest.raises(ValueError, match="atoms 0 and 1 of structure 1 are at the same position"):
        coulomb_energies(batch.replace(positions=x), torch.tensor([1.0, -1.0, 1.0, -1.0]))


@pytest.mark.parametrize("lattice, madelung", [("sc", 2.8372974794806 / 2 * (3 / (4 * math.pi)) ** (1 / 3)),
                                               ("bcc", 0.895929255682), ("fcc", 0.895873615195)])
def test_charged_cell_uses_the_neutralising_background(lattice, madelung):
    # one unit charge per cell in a uniform background, a Wigner crystal: E = -M K_E / r_ws
    # (Coldwell-Horsfall & Maradudin, J. Math. Phys. 1, 395 (1960); sc: 2.8372974794806/(2a))
    atoms = bulk("Na", lattice, a=4.0)
    r_ws = (3 * atoms.get_volume() / (4 * math.pi)) ** (1 / 3)
    energy = coulomb_energy(atoms, [1.0])
    assert abs(energy + madelung * K_E / r_ws) < 1e-8 * abs(energy)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(12)
    structures, q = mixed_batch(rng)
    sigma = rng.uniform(0.5, 1.0, len(q))
    results = []
    for device in ("cpu", "cuda"):
        batch = atoms_to_batch(structures, device=device)
        qt, st = torch.tensor(q, device=device), torch.tensor(sigma, device=device)
        x = batch.positions.clone().requires_grad_(True)
        e = coulomb_energies(batch.replace(positions=x), qt, st, per_atom=False)
        (g,) = torch.autograd.grad(e.sum(), x)
        m = coulomb_matrices(batch, st)
        results.append((e.cpu(), g.cpu(), [mm.cpu() for mm in m]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-10, atol=1e-10)
    for a, b in zip(results[0][2], results[1][2]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
