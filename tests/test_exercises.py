"""Every checker in minnp.exercises accepts the reference solution and rejects a typical mistake."""

import numpy as np
import pytest
from ase.units import kB

import minnp.exercises as check


def test_hint_renders_without_a_traceback():
    assert check.Hint("off by two")._render_traceback_() == ["\u2718 Not yet: off by two"]


def test_lj_minimum_checker():
    check.lj_minimum(lambda sigma: 2 ** (1 / 6) * sigma)
    with pytest.raises(check.Hint, match="where u\\(r\\) = 0"):
        check.lj_minimum(lambda sigma: sigma)
    with pytest.raises(check.Hint, match="2\\^\\(1/3\\)"):
        check.lj_minimum(lambda sigma: 2 ** (1 / 3) * sigma)


def test_kinetic_temperature_checker():
    def right(m, p):
        return np.sum(p**2 / m[:, None]) / (3 * len(m) * kB)

    check.kinetic_temperature(right)
    with pytest.raises(check.Hint, match="half"):
        check.kinetic_temperature(lambda m, p: right(m, p) / 2)
    with pytest.raises(check.Hint, match="Boltzmann"):
        check.kinetic_temperature(lambda m, p: right(m, p) * kB)


# ---------------------------------------------------------------------------------------------
# 03 invariance and 04 acsf
# ---------------------------------------------------------------------------------------------

def test_sorted_distances_checker():
    def right(atoms):
        return np.sort(atoms.get_all_distances()[np.triu_indices(len(atoms), 1)])

    check.sorted_distances(right)
    with pytest.raises(check.Hint, match="not sorted"):
        check.sorted_distances(lambda a: a.get_all_distances()[np.triu_indices(len(a), 1)])
    with pytest.raises(check.Hint, match="twice"):
        check.sorted_distances(lambda a: np.sort(a.get_all_distances()[~np.eye(len(a), dtype=bool)]))


def test_is_translation_invariant_checker():
    def right(features, atoms):
        moved = atoms.copy()
        moved.positions += np.random.default_rng(0).normal(size=3)
        return bool(np.allclose(features(atoms), features(moved)))

    def along_x_only(features, atoms):
        moved = atoms.copy()
        moved.positions += [1.0, 0.0, 0.0]
        return bool(np.allclose(features(atoms), features(moved)))

    check.is_translation_invariant(right)
    with pytest.raises(check.Hint, match="cannot fail"):
        check.is_translation_invariant(lambda features, atoms: True)
    with pytest.raises(check.Hint, match="general direction"):
        check.is_translation_invariant(along_x_only)


def _smooth_coordination(atoms, r_cut):
    d = atoms.get_all_distances()
    return np.where((d > 0) & (d < r_cut), 0.5 * (np.cos(np.pi * d / r_cut) + 1), 0.0).sum(axis=1)


def test_smooth_coordination_checker():
    check.smooth_coordination(_smooth_coordination)
    with pytest.raises(check.Hint, match="plain neighbour count"):
        check.smooth_coordination(lambda a, rc: ((a.get_all_distances() < rc) & (a.get_all_distances() > 0)).sum(1))
    with pytest.raises(check.Hint, match="itself"):
        check.smooth_coordination(lambda a, rc: _smooth_coordination(a, rc) + 1)


def _g2(atoms, i, eta, r_s, r_cut, cutoff=True):
    d = np.delete(atoms.get_all_distances()[i], i)
    d = d[d < r_cut]
    fc = 0.5 * (np.cos(np.pi * d / r_cut) + 1) if cutoff else 1.0
    return np.sum(np.exp(-eta * (d - r_s) ** 2) * fc)


def test_g2_by_hand_checker():
    check.g2_by_hand(_g2)
    with pytest.raises(check.Hint, match="cutoff function"):
        check.g2_by_hand(lambda *args: _g2(*args, cutoff=False))
    with pytest.raises(check.Hint, match="itself"):
        check.g2_by_hand(lambda atoms, i, eta, r_s, r_cut: _g2(atoms, i, eta, r_s, r_cut) + np.exp(-eta * r_s**2))


def test_g4_column_checker():
    def right(n_species, n_radial, n_angular, a, b, k):
        hi, lo = max(a, b), min(a, b)
        return n_species * n_radial + (hi * (hi + 1) // 2 + lo) * n_angular + k

    def tutorial_order(n_species, n_radial, n_angular, a, b, k):
        lo, hi = min(a, b), max(a, b)
        return n_species * n_radial + (lo * n_species - lo * (lo - 1) // 2 + hi - lo) * n_angular + k

    check.g4_column(right)
    with pytest.raises(check.Hint, match="tutorial"):
        check.g4_column(tutorial_order)
    with pytest.raises(check.Hint, match="after all radial blocks"):
        check.g4_column(lambda n, nr, na, a, b, k: right(n, nr, na, a, b, k) - n * nr)


def test_fcc_hcp_first_shell_checker():
    from minnp.descriptors import ACSF

    check.fcc_hcp_first_shell(lambda d: ACSF(species=["Cu"], r_cut=1.2 * d, periodic=True,
                                             g5_params=[[0.0, 4.0, 1.0], [0.0, 4.0, -1.0]]))
    with pytest.raises(check.Hint, match="ζ ≥ 3"):
        check.fcc_hcp_first_shell(lambda d: ACSF(species=["Cu"], r_cut=1.2 * d, periodic=True,
                                                 g4_params=[[0.0, 4.0, 1.0]], g5_params=[[0.0, 2.0, 1.0]]))
    with pytest.raises(check.Hint, match="first shell"):
        check.fcc_hcp_first_shell(lambda d: ACSF(species=["Cu"], r_cut=2 * d, periodic=True, g2_params=[[1, 2.5]]))


# ---------------------------------------------------------------------------------------------
# 05 soap
# ---------------------------------------------------------------------------------------------

def test_soap_n_features_checker():
    check.soap_n_features(lambda s, n, l: (s * n) * (s * n + 1) // 2 * (l + 1))
    with pytest.raises(check.Hint, match="l_max \\+ 1 values"):
        check.soap_n_features(lambda s, n, l: (s * n) * (s * n + 1) // 2 * l)
    with pytest.raises(check.Hint, match="stored once"):
        check.soap_n_features(lambda s, n, l: (s * n) ** 2 * (l + 1))
    with pytest.raises(check.Hint, match="crossover"):
        check.soap_n_features(lambda s, n, l: s * n * (n + 1) // 2 * (l + 1))


def test_soap_power_spectrum_block_checker():
    check.soap_power_spectrum_block(lambda c, l: np.pi * np.sqrt(8 / (2 * l + 1)) * c @ c.T)
    with pytest.raises(check.Hint, match="prefactor"):
        check.soap_power_spectrum_block(lambda c, l: c @ c.T)
    with pytest.raises(check.Hint, match="sum over m"):
        check.soap_power_spectrum_block(lambda c, l: np.pi * np.sqrt(8 / (2 * l + 1)) * c.T @ c)


def test_soap_kernel_checker():
    def right(X, Y, zeta=2):
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
        return (X @ Y.T) ** zeta

    check.soap_kernel(right)
    with pytest.raises(check.Hint, match="normalise"):
        check.soap_kernel(lambda X, Y, zeta=2: (X @ Y.T) ** zeta)
    with pytest.raises(check.Hint, match="power ζ"):
        check.soap_kernel(lambda X, Y, zeta=2: right(X, Y, 1))
    with pytest.raises(check.Hint, match="rows should follow X"):
        check.soap_kernel(lambda X, Y, zeta=2: right(Y, X, zeta))


# ---------------------------------------------------------------------------------------------
# 09 qeq
# ---------------------------------------------------------------------------------------------

def _two_atom_right(chi, A, Q):
    q1 = (Q * (A[1][1] - A[0][1]) + chi[1] - chi[0]) / (A[0][0] + A[1][1] - 2 * A[0][1])
    return np.array([q1, Q - q1])


def test_two_atom_charges_checker():
    check.two_atom_charges(_two_atom_right)
    with pytest.raises(check.Hint, match="signs are flipped"):
        check.two_atom_charges(lambda chi, A, Q: _two_atom_right(chi[::-1], A, Q))
    with pytest.raises(check.Hint, match="add up to"):
        check.two_atom_charges(lambda chi, A, Q: np.array([_two_atom_right(chi, A, Q)[0], 0.0]))


def _qeq_solve_right(A, chi, Q):
    n = len(chi)
    system = np.block([[A, np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    solution = np.linalg.solve(system, np.concatenate([-np.asarray(chi), [Q]]))
    return solution[:n], -solution[n]


def test_qeq_solve_checker():
    check.qeq_solve(_qeq_solve_right)
    with pytest.raises(check.Hint, match="constraint"):
        check.qeq_solve(lambda A, chi, Q: (np.linalg.solve(A, -np.asarray(chi)), 0.0))
    with pytest.raises(check.Hint, match="μ has the wrong sign"):
        check.qeq_solve(lambda A, chi, Q: (_qeq_solve_right(A, chi, Q)[0], -_qeq_solve_right(A, chi, Q)[1]))
    with pytest.raises(check.Hint, match="two things"):
        check.qeq_solve(lambda A, chi, Q: _qeq_solve_right(A, chi, Q)[0])


def test_far_end_gain_checker():
    from minnp.electrostatics import qeq

    def far_end(atoms):  # the last carbon along z and its hydrogen
        order = np.argsort(atoms.positions[:, 2])
        return order[-2:]

    def right(neutral, cation, chi, hardness, sigma):
        return (qeq(cation, chi, hardness, sigma)[far_end(cation)].sum()
                - qeq(neutral, chi, hardness, sigma)[far_end(neutral)].sum())

    check.far_end_gain(right, far_end)
    with pytest.raises(check.Hint, match="sign is flipped"):
        check.far_end_gain(lambda *args: -right(*args), far_end)
    with pytest.raises(check.Hint, match="expected"):
        check.far_end_gain(lambda n, c, chi, J, s: qeq(c, chi, J, s)[far_end(c)].sum(), far_end)


# ---------------------------------------------------------------------------------------------
# 10 fourth generation
# ---------------------------------------------------------------------------------------------

def test_best_charge_blind_rmse_checker():
    def right(e_plus, e_minus, n):
        return np.sqrt(np.mean(((np.asarray(e_plus) - np.asarray(e_minus)) / 2 / n) ** 2))

    check.best_charge_blind_rmse(right)
    with pytest.raises(check.Hint, match="HALF the gap"):
        check.best_charge_blind_rmse(lambda p, m, n: 2 * right(p, m, n))
    with pytest.raises(check.Hint, match="per atom"):
        check.best_charge_blind_rmse(lambda p, m, n: right(p, m, 1))


def test_spread_excess_charge_checker():
    def right(q, s, total):
        sums = np.bincount(s, weights=q, minlength=len(total))
        return q + ((total - sums) / np.bincount(s, minlength=len(total)))[s]

    check.spread_excess_charge(right)
    with pytest.raises(check.Hint, match="whole batch"):
        check.spread_excess_charge(lambda q, s, total: q + (total.sum() - q.sum()) / len(q))
    with pytest.raises(check.Hint, match="same\\s+amount"):
        def all_on_first(q, s, total):
            q = q.copy()
            sums = np.bincount(s, weights=q, minlength=len(total))
            for b in range(len(total)):
                q[np.flatnonzero(s == b)[0]] += total[b] - sums[b]
            return q
        check.spread_excess_charge(all_on_first)


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

    check.charge_state_gap(right, model, atoms)
    with pytest.raises(check.Hint, match="sign is flipped"):
        check.charge_state_gap(lambda m, a: -right(m, a), model, atoms)
    with pytest.raises(check.Hint, match="zero"):
        check.charge_state_gap(lambda m, a: 0.0, model, atoms)


# ---------------------------------------------------------------------------------------------
# 06 toy nnp and 07 hdnnp
# ---------------------------------------------------------------------------------------------

def _standardize(X_train, X, constant_scale=1.0, source=None):
    atoms = (X_train if source is None else source).reshape(-1, X.shape[-1])
    mean, std = atoms.mean(axis=0), atoms.std(axis=0)
    return (X - mean) / np.where(std > 0, std, constant_scale)


def test_standardize_checker():
    check.standardize(_standardize)
    with pytest.raises(check.Hint, match="its own statistics"):
        check.standardize(lambda X_train, X: _standardize(X_train, X, source=X))
    with pytest.raises(check.Hint, match="NaN or inf"):
        with np.errstate(divide="ignore", invalid="ignore"):
            check.standardize(lambda X_train, X: (X - X_train.reshape(-1, 4).mean(0)) / X_train.reshape(-1, 4).std(0))
    with pytest.raises(check.Hint, match="scale of 1"):
        check.standardize(lambda X_train, X: _standardize(X_train, X, constant_scale=1e-3))


def _split(n, fractions, seed, shuffle=True):
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    edges = np.rint(np.cumsum([0.0, *fractions]) * n).astype(int)
    return [order[a:b] for a, b in zip(edges[:-1], edges[1:])]


def test_seeded_split_checker():
    check.seeded_split(_split)
    with pytest.raises(check.Hint, match="not shuffled"):
        check.seeded_split(lambda n, f, seed: _split(n, f, seed, shuffle=False))
    with pytest.raises(check.Hint, match="same seed gave another split"):
        check.seeded_split(lambda n, f, seed: _split(n, f, None))
    with pytest.raises(check.Hint, match="two parts"):
        check.seeded_split(lambda n, f, seed: [p if k < len(f) - 1 else np.r_[p, _split(n, f, seed)[0][:1]]
                                               for k, p in enumerate(_split(n, f, seed))])


def test_reference_energies_checker():
    check.reference_energies(lambda counts, energies: np.linalg.lstsq(counts, energies, rcond=None)[0])
    with pytest.raises(check.Hint, match="mean energy per atom"):
        check.reference_energies(lambda counts, energies: np.full(counts.shape[1], energies.sum() / counts.sum()))


def _forces(dE_dG, jacobian, i, j, n_atoms, sign=1.0, neighbour=True):
    import torch

    dE_dr = torch.einsum("pf,pfc->pc", dE_dG[i], jacobian)
    forces = torch.zeros(n_atoms, 3, dtype=dE_dr.dtype).index_add(0, i, dE_dr)
    if neighbour:
        forces = forces.index_add(0, j, -dE_dr)
    return sign * forces


def test_forces_from_jacobian_checker():
    check.forces_from_jacobian(_forces)
    with pytest.raises(check.Hint, match="sign is flipped"):
        check.forces_from_jacobian(lambda *args: _forces(*args, sign=-1.0))
    with pytest.raises(check.Hint, match="only one end"):
        check.forces_from_jacobian(lambda *args: _forces(*args, neighbour=False))


def test_energy_only_forces_checker():
    trained_with_forces = {"energy_rmse": 0.002, "force_rmse": 0.06}
    check.energy_only_forces(lambda: {"energy_rmse": 0.004, "force_rmse": 0.3}, trained_with_forces)
    with pytest.raises(check.Hint, match="force_weight=0"):
        check.energy_only_forces(lambda: {"energy_rmse": 0.002, "force_rmse": 0.06}, trained_with_forces)
    with pytest.raises(check.Hint, match="dict"):
        check.energy_only_forces(lambda: 0.3, trained_with_forces)
