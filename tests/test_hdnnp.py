"""minnp.models.hdnnp and minnp.train: a Behler–Parrinello network that trains, saves and behaves."""

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from conftest import finite_difference_forces
from scipy.spatial.transform import Rotation

import minnp
from minnp import train
from minnp.descriptors.acsf import ACSF
from minnp.models import HDNNP, ExtrapolationWarning
from minnp.potentials import LennardJones

TEACHER = LennardJones(epsilon=0.0104, sigma=3.40, smooth=True)


def _labelled(atoms):
    out = minnp.compute(TEACHER, minnp.atoms_to_batch(atoms))
    atoms.calc = SinglePointCalculator(atoms, energy=out["energy"].item(), forces=out["forces"].numpy())
    return atoms


def _argon(k, rng, repeat=(2, 1, 1)):
    atoms = bulk("Ar", "fcc", a=5.0 * rng.uniform(0.97, 1.03), cubic=True).repeat(repeat)
    atoms.rattle(0.12, seed=k)
    return _labelled(atoms)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return [_argon(k, rng) for k in range(40)]


def _descriptor(species=("Ar",)):
    return ACSF(list(species), r_cut=4.5, g2_params=[[e, 3.6] for e in (0.5, 1.0, 2.0)],
                g4_params=[[0.01, 1, 1], [0.01, 1, -1]], periodic=True)


@pytest.fixture(scope="module")
def trained(data):
    torch.manual_seed(0)
    model = HDNNP(_descriptor(), hidden=(8, 8))
    history = train.fit(model, data[:30], data[30:35], epochs=15, batch_size=10, force_weight=10.0, progress=False)
    return model, history


def test_training_lowers_the_validation_error(trained):
    _, history = trained
    assert history["valid_force_rmse"][-1] < history["valid_force_rmse"][0]
    assert history["loss"][-1] < history["loss"][0]
    assert set(history) >= {"epoch", "lr", "loss", "time", "valid_energy_rmse", "valid_force_rmse"}


def test_evaluate_reports_per_atom_energy_and_per_component_force_errors(trained, data):
    model, _ = trained
    metrics = train.evaluate(model, data[35:])
    predicted = train.predict(model, data[35:])
    n = np.array([len(a) for a in data[35:]])
    reference = np.array([a.get_potential_energy() for a in data[35:]])
    rmse = np.sqrt(np.mean(((predicted["energy"] - reference) / n) ** 2))
    assert metrics["energy_rmse"] == pytest.approx(rmse, rel=1e-10)
    forces = np.concatenate([a.get_forces() for a in data[35:]])
    assert metrics["force_mae"] == pytest.approx(np.abs(predicted["forces"] - forces).mean(), rel=1e-10)


def test_trained_model_forces_equal_finite_differences(trained, data):
    model, _ = trained
    atoms = data[36].copy()
    forces = minnp.compute(model, minnp.atoms_to_batch(atoms))["forces"].numpy()
    entries = [(0, 0), (5, 2), (7, 1)]
    fd = finite_difference_forces(model, atoms, entries)
    for i, a in entries:
        assert abs(forces[i, a] - fd[i, a]) < 1e-7


def test_trained_model_is_invariant_under_rotation_translation_permutation(trained, data):
    model, _ = trained
    model.warn_extrapolation = False
    atoms = data[37]
    rotation = Rotation.random(random_state=3).as_matrix()
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rotation.T)
    moved.positions = atoms.positions @ rotation.T + [1.0, 2.0, -0.5]
    perm = np.random.default_rng(1).permutation(len(atoms))
    e = [minnp.compute(model, minnp.atoms_to_batch(a), forces=False)["energy"].item() for a in (atoms, moved, atoms[perm])]
    assert abs(e[1] - e[0]) < 1e-10 and abs(e[2] - e[0]) < 1e-10
    model.warn_extrapolation = True


def test_batch_results_equal_one_by_one_results(trained, data):
    model, _ = trained
    structures = data[35:40]
    together = minnp.compute(model, minnp.atoms_to_batch(structures))
    single = [minnp.compute(model, minnp.atoms_to_batch(a)) for a in structures]
    np.testing.assert_allclose(together["energy"].numpy(), [s["energy"].item() for s in single], atol=1e-12)
    np.testing.assert_allclose(together["forces"].numpy(), np.concatenate([s["forces"].numpy() for s in single]), atol=1e-12)


def test_unknown_species_at_prediction_is_named(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="species 'H', 'O' not among"):
        minnp.compute(model, minnp.atoms_to_batch(molecule("H2O")))


def test_extrapolation_warning_fires_outside_the_training_range(trained, data):
    model, _ = trained
    squeezed = data[35].copy()
    squeezed.set_cell(squeezed.cell.array * 0.85, scale_atoms=True)
    with pytest.warns(ExtrapolationWarning, match="outside the training range"):
        minnp.compute(model, minnp.atoms_to_batch(squeezed))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minnp.compute(model, minnp.atoms_to_batch(data[0]))  # a training structure: no warning


def test_scaling_guards_constant_features_and_uses_only_the_training_split(data):
    descriptor = ACSF(["Ar"], r_cut=4.5, g2_params=[[1.0, 3.6], [1.0, 30.0]], periodic=True)
    reference = HDNNP(descriptor, hidden=(4,))
    reference.fit_scaling(data[:10])
    assert torch.isfinite(reference.feature_std).all()
    assert reference.feature_std[0, 2] == 1.0, "a feature that is zero everywhere keeps unit scale"
    model = HDNNP(descriptor, hidden=(4,))
    train.fit(model, data[:10], data[10:12], epochs=1, progress=False)
    assert torch.equal(model.feature_mean, reference.feature_mean), "fit scales on the training split it is given"
    assert torch.equal(model.feature_max, reference.feature_max)


def test_energy_shift_is_the_least_squares_energy_per_element():
    structures = []
    for n_h, n_o in [(2, 1), (4, 2), (2, 2), (6, 1)]:
        atoms = Atoms(f"H{n_h}O{n_o}", positions=np.arange(3 * (n_h + n_o)).reshape(-1, 3) * 1.5)
        atoms.calc = SinglePointCalculator(atoms, energy=-13.6 * n_h - 430.0 * n_o)
        structures.append(atoms)
    model = HDNNP(ACSF(["H", "O"], r_cut=3.0, g2_params=[[1.0, 0.0]]), hidden=(4,))
    np.testing.assert_allclose(model.fit_energy_shift(structures).numpy(), [-13.6, -430.0])


def test_float32_model_trains(data):
    model = HDNNP(_descriptor(), hidden=(4,), dtype=torch.float32)
    history = train.fit(model, data[:8], data[8:10], epochs=2, progress=False)
    assert np.isfinite(history["loss"]).all() and next(model.parameters()).dtype == torch.float32


def test_precomputed_descriptors_give_the_forces_of_autograd_through_the_descriptor(trained, data):
    model, _ = trained
    batch = minnp.atoms_to_batch(data[35:])
    cache = model.precompute(batch)
    energies, forces = model.energies_and_forces(cache)
    reference = minnp.compute(model, batch)
    torch.testing.assert_close(energies, reference["energies"], rtol=0, atol=1e-12)
    torch.testing.assert_close(forces, reference["forces"], rtol=0, atol=1e-12)


def test_precomputed_forces_hold_for_two_species_and_small_cells():
    rng = np.random.default_rng(4)
    structures = []
    for k in range(3):
        atoms = bulk("NaCl", "rocksalt", a=5.4 * rng.uniform(0.95, 1.05))  # 2 atoms: many images
        atoms.rattle(0.1, seed=k)
        structures.append(atoms)
    acsf = ACSF(["Na", "Cl"], r_cut=5.0, g2_params=[[0.5, 2.8], [1.0, 4.0]],
                g4_params=[[0.01, 2, 1], [0.01, 1, -1]], g5_params=[[0.02, 4, 1]], periodic=True)
    torch.manual_seed(1)
    model = HDNNP(acsf, hidden=(6,))
    model.warn_extrapolation = False
    batch = minnp.atoms_to_batch(structures)
    energies, forces = model.energies_and_forces(model.precompute(batch))
    reference = minnp.compute(model, batch)
    torch.testing.assert_close(energies, reference["energies"], rtol=0, atol=1e-12)
    torch.testing.assert_close(forces, reference["forces"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("force_weight", [5.0, 0.0])
def test_training_on_precomputed_descriptors_equals_training_through_them(data, force_weight):
    histories = []
    for precompute in (True, False):
        torch.manual_seed(0)
        model = HDNNP(_descriptor(), hidden=(6, 6))
        histories.append(train.fit(model, data[:12], data[12:16], epochs=3, batch_size=4, force_weight=force_weight,
                                   progress=False, precompute=precompute))
    assert histories[0].keys() == histories[1].keys()
    for key in histories[0]:
        if key.startswith("valid") or key == "loss":
            np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-9)


def test_a_loaded_model_predicts_and_warns_about_extrapolation(trained, data, tmp_path):
    model, _ = trained
    model.save(tmp_path / "model.pt")
    loaded = HDNNP.load(tmp_path / "model.pt")
    assert not loaded.training
    squeezed = data[35].copy()
    squeezed.set_cell(squeezed.cell.array * 0.85, scale_atoms=True)
    with pytest.warns(ExtrapolationWarning):
        minnp.compute(loaded, minnp.atoms_to_batch(squeezed))
