"""Every checker in minnp.exercises (one module per notebook) accepts the reference solution and rejects
a typical mistake: the tests of all eleven notebooks' checkers, in one place."""

import numpy as np
import pytest
from ase.units import kB

from minnp.exercises import (Hint, acsf, eam, ewald, fourth_generation, hdnnp, invariance, qeq, soap, tersoff,
                             toy_nnp, welcome)


def test_hint_renders_without_a_traceback():
    assert Hint("off by two")._render_traceback_() == ["\u2718 Not yet: off by two"]


def test_lj_minimum_checker():
    welcome.lj_minimum(lambda sigma: 2 ** (1 / 6) * sigma)
    with pytest.raises(Hint, match="where u\\(r\\) = 0"):
        welcome.lj_minimum(lambda sigma: sigma)
    with pytest.raises(Hint, match="2\\^\\(1/3\\)"):
        welcome.lj_minimum(lambda sigma: 2 ** (1 / 3) * sigma)


def test_kinetic_temperature_checker():
    def right(m, p):
        return np.sum(p**2 / m[:, None]) / (3 * len(m) * kB)

    welcome.kinetic_temperature(right)
    with pytest.raises(Hint, match="half"):
        welcome.kinetic_temperature(lambda m, p: right(m, p) / 2)
    with pytest.raises(Hint, match="Boltzmann"):
        welcome.kinetic_temperature(lambda m, p: right(m, p) * kB)


# ---------------------------------------------------------------------------------------------
# 03 invariance and 04 acsf
# ---------------------------------------------------------------------------------------------

def test_sorted_distances_checker():
    def right(atoms):
        return np.sort(atoms.get_all_distances()[np.triu_indices(len(atoms), 1)])

    invariance.sorted_distances(right)
    with pytest.raises(Hint, match="not sorted"):
        invariance.sorted_distances(lambda a: a.get_all_distances()[np.triu_indices(len(a), 1)])
    with pytest.raises(Hint, match="twice"):
        invariance.sorted_distances(lambda a: np.sort(a.get_all_distances()[~np.eye(len(a), dtype=bool)]))


def test_is_translation_invariant_checker():
    def right(features, atoms):
        moved = atoms.copy()
        moved.positions += np.random.default_rng(0).normal(size=3)
        return bool(np.allclose(features(atoms), features(moved)))

    def along_x_only(features, atoms):
        moved = atoms.copy()
        moved.positions += [1.0, 0.0, 0.0]
        return bool(np.allclose(features(atoms), features(moved)))

    invariance.is_translation_invariant(right)
    with pytest.raises(Hint, match="cannot fail"):
        invariance.is_translation_invariant(lambda features, atoms: True)
    with pytest.raises(Hint, match="general direction"):
        invariance.is_translation_invariant(along_x_only)


def _smooth_coordination(atoms, r_cut):
    d = atoms.get_all_distances()
    return np.where((d > 0) & (d < r_cut), 0.5 * (np.cos(np.pi * d / r_cut) + 1), 0.0).sum(axis=1)


def test_smooth_coordination_checker():
    invariance.smooth_coordination(_smooth_coordination)
    with pytest.raises(Hint, match="plain neighbour count"):
        invariance.smooth_coordination(lambda a, rc: ((a.get_all_distances() < rc) & (a.get_all_distances() > 0)).sum(1))
    with pytest.raises(Hint, match="itself"):
        invariance.smooth_coordination(lambda a, rc: _smooth_coordination(a, rc) + 1)


def _g2(atoms, i, eta, r_s, r_cut, cutoff=True):
    d = np.delete(atoms.get_all_distances()[i], i)
    d = d[d < r_cut]
    fc = 0.5 * (np.cos(np.pi * d / r_cut) + 1) if cutoff else 1.0
    return np.sum(np.exp(-eta * (d - r_s) ** 2) * fc)


def test_g2_by_hand_checker():
    acsf.g2_by_hand(_g2)
    with pytest.raises(Hint, match="cutoff function"):
        acsf.g2_by_hand(lambda *args: _g2(*args, cutoff=False))
    with pytest.raises(Hint, match="itself"):
        acsf.g2_by_hand(lambda atoms, i, eta, r_s, r_cut: _g2(atoms, i, eta, r_s, r_cut) + np.exp(-eta * r_s**2))


def test_g4_column_checker():
    def right(n_species, n_radial, n_angular, a, b, k):
        hi, lo = max(a, b), min(a, b)
        return n_species * n_radial + (hi * (hi + 1) // 2 + lo) * n_angular + k

    def tutorial_order(n_species, n_radial, n_angular, a, b, k):
        lo, hi = min(a, b), max(a, b)
        return n_species * n_radial + (lo * n_species - lo * (lo - 1) // 2 + hi - lo) * n_angular + k

    acsf.g4_column(right)
    with pytest.raises(Hint, match="tutorial"):
        acsf.g4_column(tutorial_order)
    with pytest.raises(Hint, match="after all radial blocks"):
        acsf.g4_column(lambda n, nr, na, a, b, k: right(n, nr, na, a, b, k) - n * nr)


def test_fcc_hcp_first_shell_checker():
    from minnp.descriptors import ACSF

    acsf.fcc_hcp_first_shell(lambda d: ACSF(species=["Cu"], r_cut=1.2 * d, periodic=True,
                                             g5_params=[[0.0, 4.0, 1.0], [0.0, 4.0, -1.0]]))
    with pytest.raises(Hint, match="ζ ≥ 3"):
        acsf.fcc_hcp_first_shell(lambda d: ACSF(species=["Cu"], r_cut=1.2 * d, periodic=True,
                                                 g4_params=[[0.0, 4.0, 1.0]], g5_params=[[0.0, 2.0, 1.0]]))
    with pytest.raises(Hint, match="first shell"):
        acsf.fcc_hcp_first_shell(lambda d: ACSF(species=["Cu"], r_cut=2 * d, periodic=True, g2_params=[[1, 2.5]]))


# ---------------------------------------------------------------------------------------------
# 05 soap
# ---------------------------------------------------------------------------------------------

def test_soap_n_features_checker():
    soap.soap_n_features(lambda s, n, l: (s * n) * (s * n + 1) // 2 * (l + 1))
    with pytest.raises(Hint, match="l_max \\+ 1 values"):
        soap.soap_n_features(lambda s, n, l: (s * n) * (s * n + 1) // 2 * l)
    with pytest.raises(Hint, match="stored once"):
        soap.soap_n_features(lambda s, n, l: (s * n) ** 2 * (l + 1))
    with pytest.raises(Hint, match="crossover"):
        soap.soap_n_features(lambda s, n, l: s * n * (n + 1) // 2 * (l + 1))


def test_soap_power_spectrum_block_checker():
    soap.soap_power_spectrum_block(lambda c, l: np.pi * np.sqrt(8 / (2 * l + 1)) * c @ c.T)
    with pytest.raises(Hint, match="prefactor"):
        soap.soap_power_spectrum_block(lambda c, l: c @ c.T)
    with pytest.raises(Hint, match="sum over m"):
        soap.soap_power_spectrum_block(lambda c, l: np.pi * np.sqrt(8 / (2 * l + 1)) * c.T @ c)


def test_soap_kernel_checker():
    def right(X, Y, zeta=2):
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
        return (X @ Y.T) ** zeta

    soap.soap_kernel(right)
    with pytest.raises(Hint, match="normalise"):
        soap.soap_kernel(lambda X, Y, zeta=2: (X @ Y.T) ** zeta)
    with pytest.raises(Hint, match="power ζ"):
        soap.soap_kernel(lambda X, Y, zeta=2: right(X, Y, 1))
    with pytest.raises(Hint, match="rows should follow X"):
        soap.soap_kernel(lambda X, Y, zeta=2: right(Y, X, zeta))


# ---------------------------------------------------------------------------------------------
# 09 qeq
# ---------------------------------------------------------------------------------------------

def _two_atom_right(chi, A, Q):
    q1 = (Q * (A[1][1] - A[0][1]) + chi[1] - chi[0]) / (A[0][0] + A[1][1] - 2 * A[0][1])
    return np.array([q1, Q - q1])


def test_two_atom_charges_checker():
    qeq.two_atom_charges(_two_atom_right)
    with pytest.raises(Hint, match="signs are flipped"):
        qeq.two_atom_charges(lambda chi, A, Q: _two_atom_right(chi[::-1], A, Q))
    with pytest.raises(Hint, match="add up to"):
        qeq.two_atom_charges(lambda chi, A, Q: np.array([_two_atom_right(chi, A, Q)[0], 0.0]))


def _qeq_solve_right(A, chi, Q):
    n = len(chi)
    system = np.block([[A, np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    solution = np.linalg.solve(system, np.concatenate([-np.asarray(chi), [Q]]))
    return solution[:n], -solution[n]


def test_qeq_solve_checker():
    qeq.qeq_solve(_qeq_solve_right)
    with pytest.raises(Hint, match="constraint"):
        qeq.qeq_solve(lambda A, chi, Q: (np.linalg.solve(A, -np.asarray(chi)), 0.0))
    with pytest.raises(Hint, match="μ has the wrong sign"):
        qeq.qeq_solve(lambda A, chi, Q: (_qeq_solve_right(A, chi, Q)[0], -_qeq_solve_right(A, chi, Q)[1]))
    with pytest.raises(Hint, match="two things"):
        qeq.qeq_solve(lambda A, chi, Q: _qeq_solve_right(A, chi, Q)[0])


def test_far_end_gain_checker():
    from minnp.electrostatics import qeq as solve_charges

    def far_end(atoms):  # the last carbon along z and its hydrogen
        order = np.argsort(atoms.positions[:, 2])
        return order[-2:]

    def right(neutral, cation, chi, hardness, sigma):
        return (solve_charges(cation, chi, hardness, sigma)[far_end(cation)].sum()
                - solve_charges(neutral, chi, hardness, sigma)[far_end(neutral)].sum())

    qeq.far_end_gain(right, far_end)
    with pytest.raises(Hint, match="sign is flipped"):
        qeq.far_end_gain(lambda *args: -right(*args), far_end)
    with pytest.raises(Hint, match="expected"):
        qeq.far_end_gain(lambda n, c, chi, J, s: solve_charges(c, chi, J, s)[far_end(c)].sum(), far_end)


# ---------------------------------------------------------------------------------------------
# 10 fourth generation
# ---------------------------------------------------------------------------------------------

def test_best_charge_blind_rmse_checker():
    def right(e_plus, e_minus, n):
        return np.sqrt(np.mean(((np.asarray(e_plus) - np.asarray(e_minus)) / 2 / n) ** 2))

    fourth_generation.best_charge_blind_rmse(right)
    with pytest.raises(Hint, match="HALF the gap"):
        fourth_generation.best_charge_blind_rmse(lambda p, m, n: 2 * right(p, m, n))
    with pytest.raises(Hint, match="per atom"):
        fourth_generation.best_charge_blind_rmse(lambda p, m, n: right(p, m, 1))


def test_spread_excess_charge_checker():
    def right(q, s, total):
        sums = np.bincount(s, weights=q, minlength=len(total))
        return q + ((total - sums) / np.bincount(s, minlength=len(total)))[s]

    fourth_generation.spread_excess_charge(right)
    with pytest.raises(Hint, match="whole batch"):
        fourth_generation.spread_excess_charge(lambda q, s, total: q + (total.sum() - q.sum()) / len(q))
    with pytest.raises(Hint, match="same\\s+amount"):
        def all_on_first(q, s, total):
            q = q.copy()
            sums = np.bincount(s, weights=q, minlength=len(total))
            for b in range(len(total)):
                q[np.flatnonzero(s == b)[0]] += total[b] - sums[b]
            return q
        fourth_generation.spread_excess_charge(all_on_first)


def test_charge_state_gap_checker():
    from ase import Atoms

    from minnp import atoms_to_batch, compute
    from minnp.descriptors import ACSF
    from minnp.models import FourthGeneration

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = FourthGeneration(ACSF(["Ag"], r_cut=6.0, g2_params=[[0.5, 3.0]]), hidden=(4,)).set_stage("energies")
    with torch.no_grad():
        for p in model.short_range.parameters():
            p.normal_(0, 1.0)
    atoms = Atoms("Ag3", positions=[[0, 0, 0], [2.7, 0, 0], [1.3, 2.3, 0]])

    def right(model, atoms):
        energies = []
        for charge in (-1.0, 1.0):
            state = atoms.copy()
            state.info["charge"] = charge
            energies.append(float(compute(model, atoms_to_batch(state), forces=False)["energy"][0]))
        return energies[0] - energies[1]

    fourth_generation.charge_state_gap(right, model, atoms)
    with pytest.raises(Hint, match="sign is flipped"):
        fourth_generation.charge_state_gap(lambda m, a: -right(m, a), model, atoms)
    with pytest.raises(Hint, match="zero"):
        fourth_generation.charge_state_gap(lambda m, a: 0.0, model, atoms)


# ---------------------------------------------------------------------------------------------
# 06 toy nnp and 07 hdnnp
# ---------------------------------------------------------------------------------------------

def _standardize(X_train, X, constant_scale=1.0, source=None):
    atoms = (X_train if source is None else source).reshape(-1, X.shape[-1])
    mean, std = atoms.mean(axis=0), atoms.std(axis=0)
    return (X - mean) / np.where(std > 0, std, constant_scale)


def test_standardize_checker():
    toy_nnp.standardize(_standardize)
    with pytest.raises(Hint, match="its own statistics"):
        toy_nnp.standardize(lambda X_train, X: _standardize(X_train, X, source=X))
    with pytest.raises(Hint, match="NaN or inf"):
        with np.errstate(divide="ignore", invalid="ignore"):
            toy_nnp.standardize(lambda X_train, X: (X - X_train.reshape(-1, 4).mean(0)) / X_train.reshape(-1, 4).std(0))
    with pytest.raises(Hint, match="scale of 1"):
        toy_nnp.standardize(lambda X_train, X: _standardize(X_train, X, constant_scale=1e-3))


def _split(n, fractions, seed, shuffle=True):
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    edges = np.rint(np.cumsum([0.0, *fractions]) * n).astype(int)
    return [order[a:b] for a, b in zip(edges[:-1], edges[1:])]


def test_seeded_split_checker():
    toy_nnp.seeded_split(_split)
    with pytest.raises(Hint, match="not shuffled"):
        toy_nnp.seeded_split(lambda n, f, seed: _split(n, f, seed, shuffle=False))
    with pytest.raises(Hint, match="same seed gave another split"):
        toy_nnp.seeded_split(lambda n, f, seed: _split(n, f, None))
    with pytest.raises(Hint, match="two parts"):
        toy_nnp.seeded_split(lambda n, f, seed: [p if k < len(f) - 1 else np.r_[p, _split(n, f, seed)[0][:1]]
                                               for k, p in enumerate(_split(n, f, seed))])


def test_reference_energies_checker():
    hdnnp.reference_energies(lambda counts, energies: np.linalg.lstsq(counts, energies, rcond=None)[0])
    with pytest.raises(Hint, match="mean energy per atom"):
        hdnnp.reference_energies(lambda counts, energies: np.full(counts.shape[1], energies.sum() / counts.sum()))


def _forces(dE_dG, jacobian, i, j, n_atoms, sign=1.0, neighbour=True):
    import torch

    dE_dr = torch.einsum("pf,pfc->pc", dE_dG[i], jacobian)
    forces = torch.zeros(n_atoms, 3, dtype=dE_dr.dtype).index_add(0, i, dE_dr)
    if neighbour:
        forces = forces.index_add(0, j, -dE_dr)
    return sign * forces


def test_forces_from_jacobian_checker():
    hdnnp.forces_from_jacobian(_forces)
    with pytest.raises(Hint, match="sign is flipped"):
        hdnnp.forces_from_jacobian(lambda *args: _forces(*args, sign=-1.0))
    with pytest.raises(Hint, match="only one end"):
        hdnnp.forces_from_jacobian(lambda *args: _forces(*args, neighbour=False))


def test_energy_only_forces_checker():
    trained_with_forces = {"energy_rmse": 0.002, "force_rmse": 0.06}
    hdnnp.energy_only_forces(lambda: {"energy_rmse": 0.004, "force_rmse": 0.3}, trained_with_forces)
    with pytest.raises(Hint, match="force_weight=0"):
        hdnnp.energy_only_forces(lambda: {"energy_rmse": 0.002, "force_rmse": 0.06}, trained_with_forces)
    with pytest.raises(Hint, match="dict"):
        hdnnp.energy_only_forces(lambda: 0.3, trained_with_forces)


# ---------------------------------------------------------------------------------------------
# 01 eam, 02 tersoff, 08 ewald (moved here from tests/test_eam.py, test_tersoff.py, test_ewald.py)
# ---------------------------------------------------------------------------------------------

def test_fcc_energy_checker_accepts_the_solution_and_explains_mistakes():
    eam.fcc_energy_nearest_neighbours(lambda F, f, phi, a: F(12 * f(a / np.sqrt(2))) + 6 * phi(a / np.sqrt(2)))
    with pytest.raises(Hint, match="shared by two atoms"):
        eam.fcc_energy_nearest_neighbours(lambda F, f, phi, a: F(12 * f(a / np.sqrt(2))) + 12 * phi(a / np.sqrt(2)))
    with pytest.raises(Hint, match="a/√2"):
        eam.fcc_energy_nearest_neighbours(lambda F, f, phi, a: F(12 * f(a)) + 6 * phi(a))
    with pytest.raises(Hint, match="summed density"):
        eam.fcc_energy_nearest_neighbours(lambda F, f, phi, a: 12 * F(f(a / np.sqrt(2))) + 6 * phi(a / np.sqrt(2)))


def test_vacancy_checker_accepts_the_solution_and_explains_mistakes():
    from ase.build import bulk

    from minnp import Calculator

    def energies(model, a, repeat):
        perfect = bulk(model.species[0], "fcc", a=a, cubic=True).repeat(repeat)
        perfect.calc = Calculator(model)
        defect = perfect.copy()
        del defect[0]
        defect.calc = Calculator(model)
        return defect.get_potential_energy(), perfect.get_potential_energy(), len(perfect)

    def right(model, a, repeat):
        e_defect, e_perfect, n = energies(model, a, repeat)
        return e_defect - (n - 1) / n * e_perfect

    eam.vacancy_formation_energy(right)
    with pytest.raises(Hint, match=r"\(N-1\)/N"):
        eam.vacancy_formation_energy(lambda m, a, r: energies(m, a, r)[0] - energies(m, a, r)[1])
    with pytest.raises(Hint, match="sign"):
        eam.vacancy_formation_energy(lambda m, a, r: -right(m, a, r))


def test_angular_checker_accepts_the_solution_and_explains_mistakes():
    tersoff.tersoff_angular(lambda cos, gamma, c, d, h: gamma * (1 + c**2 / d**2 - c**2 / (d**2 + (cos - h) ** 2)))
    with pytest.raises(Hint, match="sign of h"):
        tersoff.tersoff_angular(lambda cos, gamma, c, d, h: gamma * (1 + c**2 / d**2 - c**2 / (d**2 + (cos + h) ** 2)))
    with pytest.raises(Hint, match="γ multiplies"):
        tersoff.tersoff_angular(lambda cos, gamma, c, d, h: 1 + c**2 / d**2 - c**2 / (d**2 + (cos - h) ** 2))


def test_bond_order_checker_accepts_the_solution_and_explains_mistakes():
    tersoff.tersoff_bond_order(lambda zeta, beta, n: (1 + (beta * zeta) ** n) ** (-1 / (2 * n)))
    with pytest.raises(Hint, match="-1/\\(2n\\)"):
        tersoff.tersoff_bond_order(lambda zeta, beta, n: (1 + (beta * zeta) ** n) ** (-1 / n))
    with pytest.raises(Hint, match="β is raised"):
        tersoff.tersoff_bond_order(lambda zeta, beta, n: (1 + beta * zeta**n) ** (-1 / (2 * n)))


def test_gaussian_self_energy_checker():
    from minnp.electrostatics import K_E

    def self_energy(q, sigma):
        return K_E * q**2 / (2 * sigma * np.sqrt(np.pi))

    ewald.gaussian_self_energy(self_energy)
    with pytest.raises(Hint, match="K_E"):
        ewald.gaussian_self_energy(lambda q, s: self_energy(q, s) / K_E)
    with pytest.raises(Hint, match="twice"):
        ewald.gaussian_self_energy(lambda q, s: 2 * self_energy(q, s))


def test_gaussian_real_space_kernel_checker():
    from scipy.special import erfc

    def kernel(r, eta, gamma):
        return (erfc(r / (np.sqrt(2) * eta)) - erfc(r / (np.sqrt(2) * gamma))) / r

    ewald.gaussian_real_space_kernel(kernel)
    with pytest.raises(Hint, match="point-charge kernel"):
        ewald.gaussian_real_space_kernel(lambda r, eta, gamma: erfc(r / (np.sqrt(2) * eta)) / r)
    with pytest.raises(Hint, match="√2"):
        ewald.gaussian_real_space_kernel(lambda r, eta, gamma: (erfc(r / eta) - erfc(r / gamma)) / r)


def _coulomb_energy(atoms, charges):
    """minnp's Ewald energy of point charges (eV), the reference the checkers are tested with."""
    from minnp.electrostatics import coulomb_energy

    return coulomb_energy(atoms, charges)


def test_madelung_constant_checker():
    from minnp.electrostatics import K_E

    def madelung(atoms, charges, length, units):
        return -_coulomb_energy(atoms, charges) * length / (units * K_E)

    ewald.madelung_constant(madelung)
    with pytest.raises(Hint, match="negative"):
        ewald.madelung_constant(lambda *args: -madelung(*args))
    with pytest.raises(Hint, match="formula units"):
        ewald.madelung_constant(lambda atoms, charges, length, units: madelung(atoms, charges, length, 1))


def test_vacancy_energy_slope_checker():
    from ase.build import bulk

    def vacancy(n):
        perfect = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(n)
        q = np.where(perfect.numbers == 11, 1.0, -1.0)
        defect = perfect.copy()
        del defect[1]  # a Cl⁻
        return _coulomb_energy(defect, np.delete(q, 1)) - _coulomb_energy(perfect, q)

    ewald.vacancy_energy_slope(vacancy)
    with pytest.raises(Hint, match="does not change"):  # charges rescaled to keep the cell neutral
        ewald.vacancy_energy_slope(lambda n: 8.924)
