"""minnp.models.linear: the least-squares linear model on an HDNNP's descriptors, and Δ-learning on it."""

import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from conftest import finite_difference_forces

import minnp
from minnp import train
from minnp.descriptors.acsf import ACSF
from minnp.models import HDNNP
from minnp.models.linear import design, predict_linear
from minnp.potentials import LennardJones

TEACHER = LennardJones(epsilon=0.0104, sigma=3.40, smooth=True)


def _labelled(atoms, model=TEACHER):
    out = minnp.compute(model, minnp.atoms_to_batch(atoms), forces=True)
    atoms.calc = SinglePointCalculator(atoms, energy=out["energy"].item(), forces=out["forces"].detach().numpy())
    return atoms


def _alloy(k, rng):
    """A rattled two-element fcc cell (Ar/Kr), 8 or 16 atoms, strained."""
    atoms = bulk("Ar", "fcc", a=5.2 * rng.uniform(0.97, 1.03), cubic=True).repeat((1 + k % 2, 1, 1))
    numbers = atoms.numbers.copy()
    numbers[rng.random(len(atoms)) < 0.4] = 36
    atoms.numbers = numbers
    atoms.rattle(0.1, seed=k)
    return atoms


def _descriptor():
    return ACSF(["Ar", "Kr"], r_cut=4.5, g2_params=[[e, 3.6] for e in (0.5, 1.0, 2.0)],
                g4_params=[[0.01, 1, 1], [0.01, 1, -1]], periodic=True)


@pytest.fixture(scope="module")
def alloys():
    rng = np.random.default_rng(1)
    return [_labelled(_alloy(k, rng)) for k in range(36)]


def _chunks(model, structures, batch_size=8):
    out = []
    for mb in train.minibatches(structures, batch_size, 0, "cpu", torch.float64, shuffle=False):
        out.append((model.precompute(mb.batch), mb.batch.structure, mb.energy, mb.forces, mb.n_atoms))
    return out


def _random_baseline(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    model.elements.linear_weight.copy_(0.01 * torch.randn(model.elements.linear_weight.shape, generator=generator,
                                                          dtype=torch.float64))
    model.elements.offset.copy_(torch.tensor([-0.08, -0.11], dtype=torch.float64))


def test_design_matrices_give_the_energies_and_forces_of_the_model_with_zero_networks(alloys):
    model = HDNNP(_descriptor(), hidden=(6,), baseline="linear")
    model.fit_scaling(alloys)
    _random_baseline(model)
    batch = minnp.atoms_to_batch(alloys[:5])
    reference = minnp.compute(model, batch, forces=True)  # autograd through the descriptor
    energy, forces = predict_linear(model.precompute(batch), batch.structure, 5, model.feature_mean,
                                    model.feature_std, model.elements.linear_weight, model.elements.offset)
    torch.testing.assert_close(energy, reference["energy"], rtol=0, atol=1e-12)
    torch.testing.assert_close(forces, reference["forces"], rtol=0, atol=1e-12)
    n = len(alloys[0])
    np.testing.assert_allclose(forces[:n].numpy(), finite_difference_forces(model, alloys[0]), atol=1e-7)


def test_the_fit_reproduces_an_exactly_linear_teacher_on_structures_it_never_saw(alloys):
    """Labels from a linear model are fitted exactly: energies and forces on new structures agree
    (these ACSF columns are collinear, so the weights themselves are not unique: the
    minimum-norm solution predicts the same)."""
    teacher = HDNNP(_descriptor(), hidden=(6,), baseline="linear")
    teacher.fit_scaling(alloys)
    _random_baseline(teacher, seed=3)
    data = [_labelled(a.copy(), teacher) for a in alloys]
    model = HDNNP(_descriptor(), hidden=(6,), baseline="linear")
    model.fit_scaling(alloys)
    model.fit_linear(_chunks(model, data[:28]), energy_weight=1.0, force_weight=1.0, ridge=0.0)
    batch = minnp.atoms_to_batch(data[28:])
    expected, got = minnp.compute(teacher, batch), minnp.compute(model, batch)
    torch.testing.assert_close(got["energy"], expected["energy"], rtol=0, atol=1e-9)
    torch.testing.assert_close(got["forces"], expected["forces"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("energy_weight, force_weight", [(1.0, 1.0), (100.0, 1.0), (1.0, 0.0)])
def test_the_fit_is_the_minimum_of_fits_own_loss(alloys, energy_weight, force_weight):
    """At the solution, the gradient of fit's loss (by autograd, on the whole set) vanishes."""
    model = HDNNP(_descriptor(), hidden=(6,), baseline="linear")
    model.fit_scaling(alloys)
    chunks = _chunks(model, alloys)
    weight, constant = model.fit_linear(chunks, energy_weight, force_weight, ridge=0.0)
    theta = torch.cat([weight, constant[:, None]], dim=1).requires_grad_()
    n_e = sum(len(c[2]) for c in chunks)
    n_f = sum(c[3].numel() for c in chunks)
    loss = 0.0
    for cache, structure, energy, forces, n_atoms in chunks:
        e, f = predict_linear(cache, structure, len(energy), model.feature_mean, model.feature_std,
                              theta[:, :-1], theta[:, -1])
        loss = loss + energy_weight * (((e - energy) / n_atoms) ** 2).sum() / n_e
        loss = loss + force_weight * ((f - forces) ** 2).sum() / n_f
    (gradient,) = torch.autograd.grad(loss, theta)
    assert float(gradient.abs().max()) < 1e-9 * max(1.0, float(loss.detach()))  # the loss is convex: a stationary point is its minimum


def test_a_baseline_model_starts_as_its_linear_model_and_never_ends_worse_on_validation(alloys):
    torch.manual_seed(0)
    model = HDNNP(_descriptor(), hidden=(8, 8), baseline="linear")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit may keep its baseline, and says so
        history = train.fit(model, alloys[:24], alloys[24:30], epochs=6, batch_size=8, lr=1e-3,
                            energy_weight=10.0, force_weight=1.0, progress=False)
    assert set(history) >= {"linear_valid_energy_rmse", "linear_valid_force_rmse"}
    score = [10.0 * e**2 + f**2 for e, f in zip(history["valid_energy_rmse"], history["valid_force_rmse"])]
    baseline = 10.0 * history["linear_valid_energy_rmse"] ** 2 + history["linear_valid_force_rmse"] ** 2
    final = train.evaluate(model, alloys[24:30])
    assert 10.0 * final["energy_rmse"] ** 2 + final["force_rmse"] ** 2 <= min(baseline, *score) * (1 + 1e-9)
    assert model.elements.linear_weight.abs().sum() > 0  # the baseline is installed and frozen
    assert not any(p is model.elements.linear_weight for p in model.parameters())


def test_a_network_that_loses_to_its_linear_model_says_so(alloys):
    torch.manual_seed(0)
    model = HDNNP(_descriptor(), hidden=(4,))
    with pytest.warns(UserWarning, match="linear model on the same descriptors beats"):
        train.fit(model, alloys[:24], alloys[24:30], epochs=2, batch_size=8, lr=1e-4, progress=False)


def test_the_baseline_round_trips_through_a_checkpoint(alloys, tmp_path):
    model = HDNNP(_descriptor(), hidden=(6,), baseline="linear")
    model.fit_scaling(alloys)
    _random_baseline(model)
    model.save(tmp_path / "delta.pt")
    reloaded = HDNNP.load(tmp_path / "delta.pt")
    assert reloaded.baseline == "linear"
    batch = minnp.atoms_to_batch(alloys[:3])
    assert torch.equal(minnp.compute(model, batch)["energy"], minnp.compute(reloaded, batch)["energy"])


def test_an_unknown_baseline_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="baseline='linear'"):
        HDNNP(_descriptor(), baseline="quadratic")


def test_design_without_jacobians_has_energies_only(alloys):
    model = HDNNP(_descriptor(), hidden=(6,))
    model.fit_scaling(alloys)
    batch = minnp.atoms_to_batch(alloys[:2])
    A_E, A_F = design(model.precompute(batch, derivatives=False), batch.structure, 2, model.feature_mean,
                      model.feature_std)
    assert A_F is None and A_E.shape == (2, 2 * (model.descriptor.get_number_of_features() + 1))
