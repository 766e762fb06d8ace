"""minnp.models.gap: the sparse GP equals the full GP, forces and stress are derivatives, invariances,
batching, checkpoints and clear errors."""

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from conftest import finite_difference_forces, finite_difference_stress
from scipy.spatial.transform import Rotation

import minnp
from minnp import atoms_to_batch, compute
from minnp.descriptors import ACSF, SOAP
from minnp.models import GAP
from minnp.potentials import Tersoff


def _labelled(atoms, teacher):
    out = compute(teacher, atoms_to_batch(atoms), stress=True)
    atoms.calc = SinglePointCalculator(atoms, energy=out["energy"].item(), forces=out["forces"].numpy())
    return atoms


def _silicon(k, repeat=(1, 1, 1)):
    a = 5.43 * (0.96 + 0.02 * (k % 5))
    atoms = bulk("Si", "diamond", a=a, cubic=True).repeat(repeat)
    atoms.rattle(0.15, seed=k)
    return atoms


@pytest.fixture(scope="module")
def soap():
    return SOAP(["Si"], r_cut=4.0, n_max=4, l_max=3, sigma=0.5, periodic=True)


@pytest.fixture(scope="module")
def data():
    teacher = Tersoff.from_name("Si(D)")
    return [_labelled(_silicon(k), teacher) for k in range(6)]


@pytest.fixture(scope="module")
def gap(soap, data):
    model = GAP(soap, n_sparse=20, zeta=4, sigma_energy=0.001, sigma_force=0.05)
    model.fit(data[:5])
    return model


def test_sparse_solution_with_all_environments_equals_the_full_gp(soap, data):
    """Energies only, every training atom a sparse point: the projected process is the full GP
    on total energies, y = Lf + noise: mean k_*X Lᵀ (L K Lᵀ + Σ)⁻¹ y, variance likewise."""
    train, test = data[:4], data[5]
    n_all = sum(len(a) for a in train)
    model = GAP(soap, n_sparse=n_all, zeta=2, delta=0.5, sigma_energy=0.01, jitter=0.0)
    model.fit(train, forces=False)

    def unit_features(structures):
        batch = atoms_to_batch(structures)
        with torch.no_grad():
            G = soap(batch)
        return G / G.norm(dim=1, keepdim=True), batch

    X, batch = unit_features(train)
    K = 0.25 * (X @ X.T) ** 2  # (N, N) the dense kernel of every training atom
    L = torch.nn.functional.one_hot(batch.structure).T.double()  # (B, N) total energy = sum of atoms
    n = batch.n_atoms.double()
    y = torch.tensor([a.get_potential_energy() for a in train], dtype=torch.float64) - model.offset[0] * n
    C = L @ K @ L.T + torch.diag(0.01**2 * n)  # (B, B)
    X_test, test_batch = unit_features([test])
    k_test = 0.25 * (X_test @ X.T) ** 2  # (n, N)
    mean = model.offset[0] + k_test @ L.T @ torch.linalg.solve(C, y)
    ours = model(test_batch).detach()
    np.testing.assert_allclose(ours, mean, rtol=0, atol=1e-8 * float(mean.abs().max()))
    variance = 0.25 - ((k_test @ L.T) * torch.linalg.solve(C, L @ k_test.T).T).sum(1)
    np.testing.assert_allclose(model.variance(test_batch)[0], variance, rtol=1e-6, atol=1e-12)


def test_force_rows_are_the_forces_of_the_kernel_expansion(gap, data):
    """The chain rule of fit (pair Jacobian) against autograd through the descriptor."""
    batch = atoms_to_batch(data[4:6])
    energy_rows, force_rows, virial_rows = gap._design_rows(batch, forces=True, virial=True)
    out = compute(gap, batch, stress=True)
    offsets = minnp.batch.sum_per_structure(gap.offset[torch.zeros(len(batch.numbers), dtype=torch.long)], batch)
    np.testing.assert_allclose(energy_rows @ gap.alpha + offsets, out["energy"], rtol=1e-10)
    np.testing.assert_allclose(force_rows @ gap.alpha, out["forces"], rtol=0, atol=1e-8)
    voigt = out["stress"][:, [0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]] * batch.volume()[:, None]  # V σ, (B, 6)
    np.testing.assert_allclose(virial_rows @ gap.alpha, voigt, rtol=0, atol=1e-8)


def test_fit_on_stress_uses_every_stress_label_and_reproduces_it_better(soap, data):
    teacher = Tersoff.from_name("Si(D)")
    with_stress = []
    for atoms in data[:5]:
        atoms = atoms.copy()
        out = compute(teacher, atoms_to_batch(atoms), stress=True)
        stress = out["stress"][0].numpy()[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        atoms.calc = SinglePointCalculator(atoms, energy=out["energy"].item(), forces=out["forces"].numpy(),
                                           stress=stress)
        with_stress.append(atoms)
    errors = {}
    for stress in (False, True):
        model = GAP(soap, n_sparse=20, sigma_energy=0.001, sigma_force=0.05, sigma_virial=0.01)
        info = model.fit(with_stress, stress=stress)
        assert info["n_stresses"] == (5 if stress else 0)
        predicted = compute(model, atoms_to_batch(with_stress), forces=False, stress=True)["stress"]
        reference = np.stack([a.get_stress(voigt=False) for a in with_stress])
        errors[stress] = float(np.abs(predicted.numpy() - reference).max())
    assert errors[True] < 0.5 * errors[False]


def test_fit_reproduces_its_training_forces_better_than_a_mean(gap, data):
    train = minnp.train.evaluate(gap, data[:5])
    forces = np.concatenate([a.get_forces() for a in data[:5]])
    assert train["force_rmse"] < 0.25 * forces.std()


def test_forces_match_finite_differences(gap, data):
    atoms = data[5]
    out = compute(gap, atoms_to_batch(atoms))
    entries = [(0, 0), (3, 1), (7, 2)]
    fd = finite_difference_forces(gap, atoms, entries, h=1e-4)  # |α| ~ 1e4: a larger step than roundoff
    for i, a in entries:
        assert out["forces"][i, a].item() == pytest.approx(fd[i, a], abs=1e-6)


def test_stress_matches_finite_differences(gap, data):
    atoms = data[5]
    stress = compute(gap, atoms_to_batch(atoms), forces=False, stress=True)["stress"][0].numpy()
    entries = [(0, 0), (1, 2), (0, 1)]
    fd = finite_difference_stress(gap, atoms, entries, h=1e-5)
    for a, b in entries:
        assert stress[a, b] == pytest.approx(fd[a, b], abs=1e-6)


def test_energy_is_invariant_under_rotation_translation_and_permutation(gap, data):
    atoms = data[5]
    energy = compute(gap, atoms_to_batch(atoms))["energy"].item()
    moved = atoms.copy()
    rotation = Rotation.random(random_state=1).as_matrix()
    moved.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    moved.positions = atoms.positions @ rotation.T + [0.3, -1.2, 2.0]
    moved = moved[np.random.default_rng(0).permutation(len(moved))]
    assert compute(gap, atoms_to_batch(moved))["energy"].item() == pytest.approx(energy, abs=1e-10)


def test_batched_equals_one_by_one(gap, data):
    together = compute(gap, atoms_to_batch(data[3:6]))
    alone = [compute(gap, atoms_to_batch(a)) for a in data[3:6]]
    np.testing.assert_allclose(together["energy"], torch.cat([o["energy"] for o in alone]), rtol=1e-12)
    np.testing.assert_allclose(together["forces"], torch.cat([o["forces"] for o in alone]), atol=1e-12)
    variance = gap.variance(atoms_to_batch(data[3:6]))
    alone = [gap.variance(atoms_to_batch(a)) for a in data[3:6]]
    np.testing.assert_allclose(variance[1], torch.cat([v[1] for v in alone]), rtol=0, atol=1e-12)


def test_variance_is_small_on_training_data_and_larger_far_from_it(gap, data):
    _, seen = gap.variance(atoms_to_batch(data[0]))
    far = bulk("Si", "diamond", a=6.3, cubic=True)  # strongly expanded: an environment never seen
    _, unseen = gap.variance(atoms_to_batch(far))
    assert seen.item() < unseen.item()


def test_two_elements_never_correlate_and_forces_still_match(data):
    teacher = Tersoff.from_name("SiC")
    structures = []
    for k in range(3):
        atoms = _silicon(k)
        atoms.numbers[::3] = 6
        structures.append(_labelled(atoms, teacher))
    soap = SOAP(["Si", "C"], r_cut=3.5, n_max=2, l_max=2, sigma=0.5, periodic=True)
    model = GAP(soap, n_sparse=5, sparse_method="fps")
    model.fit(structures[:2])
    assert sorted(model.sparse_species.tolist()) == [0] * 5 + [1] * 5
    k = model.kernel(soap(atoms_to_batch(structures[2])).detach(), soap.species_index(atoms_to_batch(structures[2])))
    carbon = soap.species_index(atoms_to_batch(structures[2])) == 0
    assert (k[carbon][:, model.sparse_species == 1] == 0).all()
    fd = finite_difference_forces(model, structures[2], [(0, 0), (1, 2)], h=1e-4)
    out = compute(model, atoms_to_batch(structures[2]))
    assert out["forces"][0, 0].item() == pytest.approx(fd[0, 0], abs=1e-6)
    assert out["forces"][1, 2].item() == pytest.approx(fd[1, 2], abs=1e-6)


@pytest.mark.parametrize("method", ["cur", "fps"])
def test_sparse_points_are_distinct_seeded_environments(soap, data, method):
    first = GAP(soap, n_sparse=16, sparse_method=method, seed=3)
    first.fit(data[:2], forces=False)
    again = GAP(soap, n_sparse=16, sparse_method=method, seed=3)
    again.fit(data[:2], forces=False)
    assert torch.equal(first.sparse_points, again.sparse_points)
    distances = torch.cdist(first.sparse_points, first.sparse_points) + torch.eye(16)
    assert distances.min() > 1e-8  # rattled atoms: no environment picked twice
    np.testing.assert_allclose(first.sparse_points.norm(dim=1), 1.0, rtol=1e-12)


def test_checkpoint_round_trip_is_exact(gap, data, tmp_path):
    gap.save(tmp_path / "gap.pt")
    loaded = GAP.load(tmp_path / "gap.pt")
    for key, value in gap.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    batch = atoms_to_batch(data[5])
    assert torch.equal(compute(loaded, batch)["forces"], compute(gap, batch)["forces"])
    assert loaded.config() == gap.config()


def test_calculator_runs_a_fitted_gap(gap, data):
    atoms = data[5].copy()
    atoms.calc = minnp.Calculator(gap)
    expected = compute(gap, atoms_to_batch(atoms), stress=True)
    assert atoms.get_potential_energy() == pytest.approx(expected["energy"].item(), rel=1e-12)
    assert atoms.get_stress().shape == (6,)


def test_float32_model_fits_and_predicts(soap, data):
    model = GAP(soap, n_sparse=20, jitter=1e-4, dtype=torch.float32)
    model.fit(data[:3])
    assert model.alpha.dtype == torch.float32
    reference = GAP(soap, n_sparse=20, jitter=1e-4)
    reference.fit(data[:3])
    e32 = compute(model, atoms_to_batch(data[5]).to(dtype=torch.float32))["energy"].item()
    e64 = compute(reference, atoms_to_batch(data[5]))["energy"].item()
    assert e32 == pytest.approx(e64, abs=2e-3 * len(data[5]))  # 2 meV/atom


def test_bad_input_is_refused_with_the_fix(soap, data):
    with pytest.raises(ValueError, match="lower n_sparse to at most 16"):
        GAP(soap, n_sparse=17).fit(data[:2])
    acsf = ACSF(["Si"], r_cut=3.5, g2_params=[[0.1, 0.0]], periodic=True)
    with pytest.raises(TypeError, match="per-atom SOAP"):
        GAP(acsf)
    averaged = SOAP(["Si"], r_cut=3.5, n_max=2, l_max=1, average="inner", periodic=True)
    with pytest.raises(TypeError, match="average='inner'"):
        GAP(averaged)
    with pytest.raises(ValueError, match="zeta must be a positive integer"):
        GAP(soap, zeta=2.5)
    with pytest.raises(ValueError, match="sparse_method 'random' unknown"):
        GAP(soap, sparse_method="random")
    with pytest.raises(ValueError, match="sigma_force must be positive"):
        GAP(soap, sigma_force=0)
    with pytest.raises(ValueError, match="empty"):
        GAP(soap).fit([])
    unlabelled = _silicon(9)
    with pytest.raises(ValueError, match="structure 1 has no reference energy"):
        GAP(soap, n_sparse=4).fit([data[0], unlabelled])
    with pytest.raises(RuntimeError, match="not fitted"):
        compute(GAP(soap), atoms_to_batch(data[0]))
    with pytest.raises(ValueError, match="species 'C'"):
        gap = GAP(soap, n_sparse=4)
        gap.fit(data[:1], forces=False)
        gap(atoms_to_batch(bulk("C", "diamond", a=3.57)))
