"""minnp.train: evaluate and predict on every energy module, fit on any module with parameters,
and clear errors (problem and fix) for the inputs that used to train silently on wrong numbers.

Independent references: a module's own labels give zero error (and a known shift gives exactly
that shift); a learnable scale of Lennard-Jones converges to the teacher's.
"""

import math

import numpy as np
import pytest
import torch
from ase.build import bulk

import minnp
from minnp import data, train
from minnp.descriptors import ACSF
from minnp.models import HDNNP
from minnp.potentials import LennardJones, Tersoff, ZhouEAM

ARGON = dict(epsilon=0.0104, sigma=3.40, smooth=True)


def labelled_by(model, atoms, shift_per_atom=0.0):
    out = minnp.compute(model, minnp.atoms_to_batch(atoms))
    return data.label(atoms, energy=out["energy"].item() + shift_per_atom * len(atoms), forces=out["forces"].numpy())


def rattled(symbol, structure, a, k, repeat=(1, 1, 1)):
    atoms = bulk(symbol, structure, a=a, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=k)
    return atoms


ENERGY_MODULES = {  # no trainable parameters: EAM and Tersoff keep tables in buffers, LJ has none
    "EAM": (lambda: ZhouEAM(["Cu"]).tabulate(nr=2000, nrho=2000), ("Cu", "fcc", 3.615)),
    "Tersoff": (lambda: Tersoff.from_name("Si(C)"), ("Si", "diamond", 5.432)),
    "LennardJones": (lambda: LennardJones(**ARGON), ("Ar", "fcc", 5.3)),
}


@pytest.mark.parametrize("name", list(ENERGY_MODULES))
def test_evaluate_and_predict_work_on_modules_without_parameters(name):
    build, crystal = ENERGY_MODULES[name]
    model = build()
    structures = [labelled_by(model, rattled(*crystal, k), shift_per_atom=0.01 * (k % 2)) for k in range(4)]
    metrics = train.evaluate(model, structures)
    assert metrics["energy_mae"] == pytest.approx(0.005, abs=1e-10), "half the structures are 10 meV/atom off"
    assert metrics["force_rmse"] < 1e-12
    predicted = train.predict(model, structures)
    reference = [minnp.compute(model, minnp.atoms_to_batch(a))["energy"].item() for a in structures]
    np.testing.assert_allclose(predicted["energy"], reference, rtol=0, atol=1e-10)
    assert predicted["forces"].shape == (sum(len(a) for a in structures), 3)


def test_device_and_dtype_come_from_parameters_then_buffers_then_the_default():
    eam = ZhouEAM(["Cu"]).tabulate(nr=200, nrho=200).to(torch.float32)
    assert train.model_device_dtype(eam) == (torch.device("cpu"), torch.float32)
    assert train.model_device_dtype(LennardJones()) == (torch.device("cpu"), torch.float64)
    assert train.model_device_dtype(HDNNP(_acsf(), hidden=(2,), dtype=torch.float32))[1] == torch.float32


class ScaledLJ(torch.nn.Module):
    """Lennard-Jones times one learnable factor: the smallest model with a parameter."""

    def __init__(self, scale=0.5):
        super().__init__()
        self.lj = LennardJones(**ARGON)
        self.scale = torch.nn.Parameter(torch.tensor(scale, dtype=torch.float64))

    def forward(self, batch):
        return self.scale * self.lj(batch)


@pytest.fixture(scope="module")
def argon():
    teacher = LennardJones(**ARGON)
    return [labelled_by(teacher, rattled("Ar", "fcc", 5.3 * (0.97 + 0.01 * (k % 7)), k)) for k in range(14)]


def test_fit_trains_any_module_with_parameters(argon):
    model = ScaledLJ()
    history = train.fit(model, argon[:10], argon[10:], epochs=40, batch_size=5, lr=0.05, progress=False)
    assert abs(model.scale.item() - 1.0) < 0.02, "the scale converges to the teacher's 1"
    assert history["valid_force_rmse"][-1] < 0.1 * history["valid_force_rmse"][0]


# ---- bad input: a clear error, naming the problem and the fix ----------------------------------


def _acsf():
    return ACSF(["Ar"], r_cut=4.5, g2_params=[[0.5, 3.6], [1.0, 4.0]], g4_params=[[0.01, 1, 1]], periodic=True)


def test_a_huge_learning_rate_stops_with_the_fix_and_keeps_the_model_finite(argon):
    model = ScaledLJ()
    with pytest.raises(FloatingPointError, match=r"became (inf|nan).*smaller learning rate, e.g. fit\(\.\.\., lr="):
        train.fit(model, argon[:10], argon[10:], epochs=5, batch_size=5, lr=1e300, progress=False)
    assert model.scale.item() == 0.5, "reset to the state it had before the fit"


def test_a_fit_whose_best_epoch_is_the_first_says_so(argon):
    with pytest.warns(UserWarning, match="best validation error of this fit was epoch 1.*learning rate"):
        train.fit(ScaledLJ(), argon[:10], argon[10:], epochs=3, batch_size=5, lr=20.0, progress=False)  # overshoots


@pytest.mark.parametrize("what", ["energy", "forces"])
def test_non_finite_labels_are_named_with_structure_file_and_line(argon, what):
    structures = [a.copy() for a in argon[:6]]
    for atoms, original in zip(structures, argon):
        atoms.calc = original.calc
    bad = structures[3]
    forces = bad.get_forces().copy()
    forces[1, 2] = np.inf
    data.label(bad, energy=math.nan if what == "energy" else bad.get_potential_energy(), forces=forces)
    bad.info.update(source="train.data", line=120)
    message = rf"structure 3 \(train.data, line 120\) has a non-finite reference {what}.*fix or drop"
    with pytest.raises(ValueError, match=message):
        train.fit(ScaledLJ(), structures, argon[10:], epochs=1, progress=False)


def test_a_missing_force_label_names_the_structure_and_the_fix(argon):
    structures = argon[:4] + [data.label(argon[4].copy(), energy=argon[4].get_potential_energy())]
    with pytest.raises(ValueError, match=r"structure 4 has no reference forces.*force_weight=0"):
        train.fit(ScaledLJ(), structures, argon[10:], epochs=1, progress=False)
    train.fit(ScaledLJ(), structures, argon[10:], epochs=1, force_weight=0, progress=False)  # the fix works


def test_unlabelled_structures_are_refused(argon):
    with pytest.raises(ValueError, match=r"structure 1 has no reference energy.*minnp.data.label"):
        train.evaluate(ScaledLJ(), [argon[0], bulk("Ar", "fcc", a=5.3)])


@pytest.mark.parametrize("call, message", [
    (lambda m, a: train.fit(m, [], a[10:], epochs=1), "the training set is empty: pass at least one"),
    (lambda m, a: train.fit(m, a[:10], [], epochs=1), "the validation set is empty: hold out"),
    (lambda m, a: train.predict(m, []), "structures to predict is empty: pass at least one"),
    (lambda m, a: train.evaluate(m, []), "structures to evaluate is empty"),
    (lambda m, a: train.fit(m, a[:10], a[10:], energy_weight=0, force_weight=0), "not all zero.*energy_weight=1"),
    (lambda m, a: train.fit(LennardJones(**ARGON), a[:10], a[10:]), "no trainable parameters.*use evaluate or predict"),
])
def test_empty_sets_zero_weights_and_nothing_to_train_are_clear_errors(argon, call, message):
    with pytest.raises(ValueError, match=message):
        call(ScaledLJ(), argon)


def test_fitting_a_fitted_model_again_is_refused_or_resumed_keeping_the_best(argon):
    torch.manual_seed(0)
    model = HDNNP(_acsf(), hidden=(6,))
    train.fit(model, argon[:10], argon[10:], epochs=4, batch_size=5, progress=False)
    model.warn_extrapolation = False  # validation frames may lie just outside the training range
    scaling = model.feature_mean.clone()
    before = train.evaluate(model, argon[10:])["force_rmse"]
    with pytest.raises(ValueError, match=r"fitted before.*fit\(\.\.\., refit_scaling=False\)"):
        train.fit(model, argon[:6], argon[10:], epochs=1, progress=False)
    with pytest.warns(UserWarning, match="no epoch improved"):  # a wild learning rate only makes it worse
        train.fit(model, argon[:6], argon[10:], epochs=2, batch_size=5, lr=0.5, progress=False, refit_scaling=False)
    assert torch.equal(model.feature_mean, scaling), "the scaling is kept"
    assert train.evaluate(model, argon[10:])["force_rmse"] <= before, "the best model so far is kept"
