"""The physically informed neural network (minnp/models/pinn.py): Tersoff with per-atom parameters set by networks."""

import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk
from conftest import finite_difference_forces, finite_difference_stress

from minnp import Calculator, atoms_to_batch, compute, train
from minnp.checkpoint import load
from minnp.data import label
from minnp.descriptors import ACSF
from minnp.descriptors.properties import invariance_errors, permuted, random_rotation, rotated
from minnp.models import PINN, ExtrapolationWarning
from minnp.models.pinn import VARIED
from minnp.potentials import Tersoff
from minnp.potentials.fittable_tersoff import FittableTersoff
from minnp.potentials.tersoff import COLUMN, FIELDS, NAMED_SETS

ACSF_SI = {"r_cut": 3.5, "periodic": True, "g2_params": [[0.5, 0.0], [4.0, 2.4], [8.0, 3.0]],
           "g4_params": [[0.01, 1, 1], [0.01, 1, -1], [0.1, 2, 1]]}


def rattled(seed=0, a=5.431, repeat=(1, 1, 1), amplitude=0.12):
    atoms = bulk("Si", "diamond", a=a, cubic=True).repeat(repeat)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0, amplitude, atoms.positions.shape)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))), scale_atoms=True)
    return atoms


def labelled(n, seed=0):
    """Rattled Si structures labelled by Si(C) with a 5 % stronger repulsion, energies shifted by -3 eV/atom."""
    symbol, entry = "Si", NAMED_SETS["Si(C)"][1]["Si", "Si", "Si"]
    teacher = Tersoff([symbol], {(symbol,) * 3: entry._replace(A=1.05 * entry.A)})
    structures = []
    for k in range(n):
        atoms = rattled(seed + k, a=5.40 + 0.02 * k, amplitude=0.08)
        out = compute(teacher, atoms_to_batch(atoms))
        label(atoms, energy=float(out["energy"][0]) - 3.0 * len(atoms), forces=out["forces"].numpy())
        structures.append(atoms)
    return structures


def model(varied=VARIED, bound=0.5, scale=0.3, seed=0, dtype=torch.float64):
    """A PINN on Si(C) with scaling fitted and random networks whose corrections are not small."""
    torch.manual_seed(seed)
    pinn = PINN(ACSF(["Si"], **ACSF_SI), base=Tersoff.from_name("Si(C)"), varied=varied, hidden=(8,),
                bound=bound, dtype=dtype)
    pinn.fit_scaling([rattled(s, a=5.3 + 0.05 * s, amplitude=0.2) for s in range(8)])
    with torch.no_grad():
        for networks in pinn.corrections:
            for net in networks.networks:
                net[-1].weight.normal_(0, scale)
    return pinn.eval()


def parameters_of(pinn, atoms):
    batch = atoms_to_batch(atoms, dtype=pinn.base.dtype)
    return pinn.parameters_per_atom(pinn.descriptor(batch), pinn.descriptor.species_index(batch)).detach()


def test_corrections_are_not_trivial_in_these_tests():
    p = parameters_of(model(), rattled())
    assert (p.std(dim=0)[[COLUMN[n] for n in VARIED]] > 1e-3 * p[0, [COLUMN[n] for n in VARIED]].abs()).all()


def test_forces_match_finite_differences():
    pinn, atoms = model(), rattled(1)
    out = compute(pinn, atoms_to_batch(atoms))
    entries = [(0, 0), (3, 1), (5, 2), (7, 0)]
    fd = finite_difference_forces(pinn, atoms, entries)
    for i, a in entries:
        assert out["forces"][i, a].item() == pytest.approx(fd[i, a], rel=1e-7, abs=1e-7)


def test_stress_matches_finite_differences():
    pinn, atoms = model(), rattled(2)
    out = compute(pinn, atoms_to_batch(atoms), stress=True)
    entries = [(0, 0), (1, 2), (0, 1), (2, 2)]
    fd = finite_difference_stress(pinn, atoms, entries)
    for a, b in entries:
        assert out["stress"][0, a, b].item() == pytest.approx(fd[a, b], rel=1e-7, abs=1e-8)


def test_zero_corrections_give_tersoff_exactly():
    pinn = model()
    with torch.no_grad():
        for networks in pinn.corrections:
            for net in networks.networks:
                net[-1].weight.zero_()
    atoms = rattled(3, repeat=(2, 1, 1))
    got = compute(pinn, atoms_to_batch(atoms), stress=True)
    ref = compute(Tersoff.from_name("Si(C)"), atoms_to_batch(atoms), stress=True)
    np.testing.assert_allclose(got["energies"], ref["energies"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["forces"], ref["forces"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["stress"], ref["stress"], rtol=0, atol=1e-12)


def test_parameters_stay_within_the_bound_whatever_the_networks_say():
    pinn = model(scale=1e3, bound=0.3)
    with pytest.warns(ExtrapolationWarning):
        p = parameters_of(pinn, rattled(4, a=4.6))  # compressed far outside the training range
    base = pinn.base
    for name in VARIED:
        k = COLUMN[name]
        if name == "costheta0":
            u, u0 = torch.atanh(p[:, k]), torch.atanh(base[k])
        else:
            u, u0 = torch.log(p[:, k]), torch.log(base[k])
            assert (p[:, k] > 0).all()
        assert ((u - u0).abs() <= 0.3 + 1e-12).all(), name
    fixed = [COLUMN[n] for n in FIELDS if n not in VARIED]
    assert torch.equal(p[:, fixed], base[fixed].expand(len(p), -1))


def test_invariant_under_translation_rotation_permutation():
    pinn, atoms = model(), rattled(5)
    errors = invariance_errors(lambda a: compute(pinn, atoms_to_batch(a), forces=False)["energies"][:, None].numpy(),
                               atoms)
    assert max(errors.values()) < 1e-10, errors
    rng = np.random.default_rng(0)
    R = random_rotation(rng)
    forces = compute(pinn, atoms_to_batch(atoms))["forces"].numpy()
    np.testing.assert_allclose(compute(pinn, atoms_to_batch(rotated(atoms, R)))["forces"].numpy(), forces @ R.T,
                               atol=1e-10)
    order = rng.permutation(len(atoms))
    np.testing.assert_allclose(compute(pinn, atoms_to_batch(permuted(atoms, order)))["forces"].numpy(),
                               forces[order], atol=1e-10)


def test_batched_results_equal_one_by_one():
    pinn = model()
    structures = [rattled(6), rattled(7, repeat=(1, 2, 1)), rattled(8, a=5.6)]
    together = compute(pinn, atoms_to_batch(structures), stress=True)
    alone = [compute(pinn, atoms_to_batch(a), stress=True) for a in structures]
    np.testing.assert_allclose(together["energy"], torch.cat([o["energy"] for o in alone]), rtol=0, atol=1e-10)
    np.testing.assert_allclose(together["forces"], torch.cat([o["forces"] for o in alone]), rtol=0, atol=1e-10)
    np.testing.assert_allclose(together["stress"], torch.cat([o["stress"] for o in alone]), rtol=0, atol=1e-12)


def test_precomputed_descriptors_give_the_forces_of_autograd_through_them():
    pinn = model()
    batch = atoms_to_batch([rattled(9), rattled(10, a=5.5)])
    energies, forces = pinn.energies_and_forces(pinn.precompute(batch))
    ref = compute(pinn, batch)
    np.testing.assert_allclose(energies, ref["energies"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(forces, ref["forces"], rtol=0, atol=1e-11)
    energies, none = pinn.energies_and_forces(pinn.precompute(batch, derivatives=False))
    assert none is None
    np.testing.assert_allclose(energies, ref["energies"], rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore::minnp.models.networks.ExtrapolationWarning")  # evaluate on the held-out pair
def test_fit_trains_it_and_save_load_round_trips_bitwise(tmp_path):
    structures = labelled(6)
    def new():
        torch.manual_seed(0)
        return PINN(ACSF(["Si"], **ACSF_SI), base=Tersoff.from_name("Si(C)"), hidden=(8,))

    def loss(metrics):
        return metrics["energy_rmse"] ** 2 + metrics["force_rmse"] ** 2

    untrained = new()  # ≈ the base potential: its last layers start small
    untrained.fit_scaling(structures[:4])
    untrained.fit_energy_shift(structures[:4])
    pinn = new()
    train.fit(pinn, structures[:4], structures[4:], epochs=10, batch_size=4, lr=1e-2, progress=False)
    assert pinn.scaling_fitted and torch.equal(pinn.energy_shift, untrained.energy_shift)
    assert loss(train.evaluate(pinn, structures[:4])) < 0.5 * loss(train.evaluate(untrained, structures[:4]))
    pinn.save(tmp_path / "pinn.pt")
    again = PINN.load(tmp_path / "pinn.pt")
    assert again.config() == pinn.config()
    for key, value in pinn.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    atoms = structures[5]
    a = compute(pinn, atoms_to_batch(atoms), stress=True)
    b = compute(again, atoms_to_batch(atoms), stress=True)
    for key in ("energy", "forces", "stress"):
        assert torch.equal(a[key], b[key])
    assert isinstance(load(tmp_path / "pinn.pt"), PINN)


def test_energy_shift_is_the_least_squares_residual_of_the_base():
    structures = labelled(3)
    pinn = PINN(ACSF(["Si"], **ACSF_SI), base=Tersoff.from_name("Si(C)"))
    shift = pinn.fit_energy_shift(structures)
    base = train.predict(Tersoff.from_name("Si(C)"), structures, forces=False)["energy"]
    residual = np.array([a.get_potential_energy() for a in structures]) - base
    n = np.array([len(a) for a in structures])
    assert shift.item() == pytest.approx((residual @ n) / (n @ n), abs=1e-12)


def test_runs_in_ase_and_warns_outside_the_training_range():
    pinn = model()
    atoms = rattled(11)
    atoms.calc = Calculator(pinn)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        assert np.isfinite(atoms.get_potential_energy()) and atoms.get_forces().shape == (8, 3)
    squeezed = rattled(11, a=4.3)
    squeezed.calc = Calculator(pinn)
    with pytest.warns(ExtrapolationWarning) as caught:
        squeezed.get_potential_energy()
    assert len(caught) == 1  # one warning per structure, not one per varied parameter


def test_float32_model_gives_float32_energies_close_to_float64():
    atoms = rattled(12)
    e64 = compute(model(), atoms_to_batch(atoms))["energy"]
    e32 = compute(model(dtype=torch.float32), atoms_to_batch(atoms, dtype=torch.float32))["energy"]
    assert e32.dtype == torch.float32 and e32.item() == pytest.approx(e64.item(), rel=1e-5)


def test_fitted_tersoff_can_be_the_base():
    fitted = FittableTersoff.from_name("Si(C)")
    with torch.no_grad():
        fitted.free += 0.01  # a training step, not yet evaluated: its table buffer is not updated yet
    pinn = PINN(ACSF(["Si"], **ACSF_SI), base=fitted)
    assert torch.equal(pinn.base, fitted.parameter_table()[0, 0, 0].detach())
    assert not torch.equal(pinn.base, Tersoff.from_name("Si(C)").table[0, 0, 0])


def test_bad_input_is_explained():
    acsf = ACSF(["Si"], **ACSF_SI)
    with pytest.raises(ValueError, match="one-element Tersoff base"):
        PINN(ACSF(["Si", "C"], **ACSF_SI), base=Tersoff.from_name("SiC"))
    with pytest.raises(ValueError, match=r"base Tersoff is for \['C'\] but the descriptor describes \['Si'\]"):
        PINN(acsf, base=Tersoff.from_name("C"))
    with pytest.raises(ValueError, match="PINN cannot vary 'R'"):
        PINN(acsf, base=Tersoff.from_name("Si(C)"), varied=["A", "R"])
    with pytest.raises(ValueError, match="lambda3 .* cannot vary"):
        PINN(acsf, base=Tersoff.from_name("Si(D)"), varied=["lambda3"])  # λ3 = 0 in Si(D)
    with pytest.raises(ValueError, match="bound must be positive"):
        PINN(acsf, base=Tersoff.from_name("Si(C)"), bound=0.0)
    with pytest.raises(ValueError, match="base has 13 numbers; a Tersoff entry has 14"):
        PINN(acsf, base=[1.0] * 13)
    with pytest.raises(ValueError, match="species 'C'"):
        compute(model(), atoms_to_batch(bulk("C", "diamond", a=3.57)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu():
    atoms = rattled(13, repeat=(2, 1, 1))
    cpu = compute(model(), atoms_to_batch(atoms), stress=True)
    gpu = compute(model().to("cuda"), atoms_to_batch(atoms, device="cuda"), stress=True)
    assert gpu["energy"].item() == pytest.approx(cpu["energy"].item(), abs=1e-9)
    np.testing.assert_allclose(gpu["forces"].cpu(), cpu["forces"], atol=1e-9)
    np.testing.assert_allclose(gpu["stress"].cpu(), cpu["stress"], atol=1e-11)
