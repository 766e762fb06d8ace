"""Tests for minnp.models.fourth_generation (3G and 4G networks) and the charge term of minnp.train.

Independent references: finite differences of the whole model, the total-charge constraint,
a Qeq teacher with known electronegativities (what stage 1 must recover), and the structure of
the two training stages (what is frozen stays unchanged).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from conftest import finite_difference_forces, nacl_cluster

from minnp import atoms_to_batch, compute, data
from minnp.descriptors import ACSF
from minnp.electrostatics.qeq import QEq
from minnp.models import HDNNP, FourthGeneration, ThirdGeneration
from minnp.train import evaluate, fit

TEACHER = QEq(chi={"Na": 2.8, "Cl": 8.6}, hardness={"Na": 4.6, "Cl": 9.9}, sigma={"Na": 1.2, "Cl": 1.0})


def acsf():
    return ACSF(["Na", "Cl"], r_cut=5.0, g2_params=[[0.5, 2.5], [0.5, 3.5]], g4_params=[[0.05, 1, 1]])


def cluster(rng, n_na=2, n_cl=2, charge=0.0) -> Atoms:
    return nacl_cluster(rng, n_na, n_cl, charge)


def labelled(rng, count: int) -> list[Atoms]:
    """Clusters labelled by the Qeq teacher: its charges, and its energy and forces plus a
    short-range pair repulsion, so stage 2 has something beyond electrostatics to learn."""
    structures = []
    for k in range(count):
        atoms = cluster(rng, 2, 2 + k % 2, charge=-(k % 2))
        batch = atoms_to_batch(atoms)
        out = compute(TEACHER, batch)
        d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
        repulsion = 0.5 * np.sum(np.exp(-d[d > 0]))
        data.label(atoms, energy=float(out["energy"][0]) + repulsion, forces=out["forces"].numpy(),
                   charges=TEACHER.charges(batch).detach().numpy())
        structures.append(atoms)
    return structures


def scrambled(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn at random, so every term (E_short's charge input included) matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model


# ---------------------------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [FourthGeneration, ThirdGeneration])
def test_forces_match_finite_differences(rng, cls):
    model = scrambled(cls(acsf(), hidden=(6, 6)))
    atoms = cluster(rng, 3, 2, charge=1.0)
    forces = compute(model, atoms_to_batch(atoms))["forces"].numpy()
    fd = finite_difference_forces(model, atoms)
    np.testing.assert_allclose(forces, fd, rtol=0, atol=1e-6 * max(1.0, np.abs(fd).max()))
    assert np.abs(fd).max() > 0.1


def test_4g_forces_need_the_charge_gradient_through_the_solve(rng):
    """The same model with ∂q/∂x cut (charges detached) gives wrong forces: the bug the
    finite-difference test above guards against."""
    model = scrambled(FourthGeneration(acsf(), hidden=(6, 6)))
    atoms = cluster(rng, 3, 2, charge=1.0)
    right = compute(model, atoms_to_batch(atoms))["forces"].numpy()
    original = model.charges_from

    def detached(*args):
        return original(*args).detach()

    model.charges_from = detached
    wrong = compute(model, atoms_to_batch(atoms))["forces"].numpy()
    assert np.abs(wrong - right).max() > 0.05 * np.abs(right).max()


def test_4g_charges_sum_to_the_total_charge_and_tell_charge_states_apart(rng):
    model = scrambled(FourthGeneration(acsf(), hidden=(6, 6)))
    atoms = cluster(rng, 2, 2)
    states = []
    for charge in (1.0, -1.0):
        copy = atoms.copy()
        copy.info["charge"] = charge
        states.append(copy)
    batch = atoms_to_batch(states)
    q = model.charges(batch)
    totals = torch.zeros(2, dtype=q.dtype).index_add(0, batch.structure, q)
    np.testing.assert_allclose(totals.detach().numpy(), [1.0, -1.0], rtol=0, atol=1e-12)
    energy = compute(model, batch, forces=False)["energy"]
    assert abs(float(energy[0] - energy[1])) > 1e-3  # same geometry, different total charge
    # 2G and 3G see only the geometry: the same energy for both charge states
    for other in (scrambled(HDNNP(acsf(), hidden=(6, 6))), scrambled(ThirdGeneration(acsf(), hidden=(6, 6)))):
        energy = compute(other, batch, forces=False)["energy"]
        assert float(energy[0]) == float(energy[1])


def test_energy_is_electrostatic_plus_short_range(rng):
    model = scrambled(FourthGeneration(acsf(), hidden=(6, 6)))
    batch = atoms_to_batch([cluster(rng, 2, 3, -1.0), cluster(rng, 1, 1)])
    terms = model.energy_terms(batch)
    np.testing.assert_allclose(model(batch).detach().numpy(), (terms["elec"] + terms["short"]).detach().numpy())
    # E_elec = ½ qᵀMq with M from the electrostatics module, per structure
    from minnp.electrostatics import coulomb_energies

    sigma = model.sigma[model.descriptor.species_index(batch)]
    np.testing.assert_allclose(terms["elec"].detach().numpy(),
                               coulomb_energies(batch, terms["charges"], sigma).detach().numpy(), atol=1e-12)


def test_default_widths_are_covalent_radii_and_bad_widths_get_a_clear_error():
    from ase.data import covalent_radii

    model = FourthGeneration(acsf())
    np.testing.assert_allclose(model.sigma.numpy(), covalent_radii[[11, 17]])
    with pytest.raises(ValueError, match=r"no Gaussian width for \['Cl'\]"):
        FourthGeneration(acsf(), sigma={"Na": 1.0})
    with pytest.raises(ValueError, match="stage must be one of"):
        model.set_stage("forces")


def test_bad_hardness_and_activation_are_clear_errors():
    for hardness in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="hardness must be a positive number.*hardness=5.0"):
            FourthGeneration(acsf(), hardness=hardness)
    for cls in (FourthGeneration, ThirdGeneration, HDNNP):
        choices = r"activation 'relu' is not available; choose one of \['silu', 'softplus', 'tanh'\]"
        with pytest.raises(ValueError, match=choices):
            cls(acsf(), activation="relu")


@pytest.mark.parametrize("cls", [FourthGeneration, ThirdGeneration])
def test_extrapolation_warning_fires_for_charge_models(rng, cls):
    from minnp.models import ExtrapolationWarning

    structures = labelled(rng, 8)
    model = cls(acsf(), hidden=(4,))
    model.fit_scaling(structures)  # stage "charges": the charge networks' range
    model.set_stage("energies")
    model.fit_scaling(structures)  # the short-range networks' range
    model.eval()
    squeezed = structures[0].copy()
    squeezed.positions *= 0.6
    with pytest.warns(ExtrapolationWarning, match="outside the training range"):
        compute(model, atoms_to_batch(squeezed))
    model.warn_extrapolation = False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute(model, atoms_to_batch(squeezed))


def test_one_forward_pass_per_step_when_training_energies_and_charges(rng, monkeypatch):
    structures = labelled(rng, 12)
    model = FourthGeneration(acsf(), hidden=(4,))
    passes = []
    original = model._parts
    monkeypatch.setattr(model, "_parts", lambda batch: passes.append(1) or original(batch))
    fit(model, structures[:8], structures[8:], epochs=1, batch_size=4, force_weight=0.1, charge_weight=1,
        progress=False)
    assert len(passes) == 2 + 1, "two training steps and one validation batch: one pass each"


# ---------------------------------------------------------------------------------------------
# Two-stage training through minnp.train.fit
# ---------------------------------------------------------------------------------------------


def test_stage_one_recovers_the_charges_of_a_qeq_teacher(rng):
    structures = labelled(rng, 48)
    train, valid = structures[:40], structures[40:]
    model = FourthGeneration(acsf(), hidden=(8, 8))
    before = evaluate(model, valid, forces=False, charges=True)["charge_rmse"]
    history = fit(model, train, valid, epochs=40, batch_size=8, lr=1e-2, energy_weight=0, force_weight=0,
                  charge_weight=1, progress=False)
    after = evaluate(model, valid, forces=False, charges=True)["charge_rmse"]
    assert "valid_charge_rmse" in history and "valid_energy_rmse" not in history  # no energies in stage 1
    assert after < 0.025 and after < before / 10  # from ~0.29 e (χ = 0) to ~0.015 e


def test_stage_two_trains_only_the_short_range_part(rng):
    structures = labelled(rng, 24)
    train, valid = structures[:20], structures[20:]
    model = FourthGeneration(acsf(), hidden=(6, 6))
    fit(model, train, valid, epochs=3, batch_size=8, energy_weight=0, force_weight=0, charge_weight=1, progress=False)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("short_range")}
    short_before = {k: v.clone() for k, v in model.short_range.state_dict().items()}
    model.set_stage("energies")
    assert not any(p.requires_grad for p in model.charge_parameters())
    history = fit(model, train, valid, epochs=3, batch_size=8, progress=False)
    for key, value in frozen.items():
        assert torch.equal(model.state_dict()[key], value), f"{key} changed in stage 2"
    changed = [k for k, v in model.short_range.state_dict().items() if not torch.equal(v, short_before[k])]
    assert any("networks" in k for k in changed) and "input_std" in changed and "offset" in changed
    assert history["valid_energy_rmse"][-1] < 0.5


def test_energy_shift_is_fitted_to_reference_minus_electrostatic_energy(rng):
    structures = labelled(rng, 12)
    model = FourthGeneration(acsf(), hidden=(6, 6)).set_stage("energies")
    model.fit_scaling(structures)
    shift = model.fit_energy_shift(structures).numpy()
    batch = atoms_to_batch(structures)
    e_elec = torch.zeros(len(structures), dtype=torch.float64).index_add(0, batch.structure, model.energy_terms(batch)["elec"])
    counts = np.array([[np.sum(a.numbers == z) for z in (11, 17)] for a in structures])
    target = np.array([a.get_potential_energy() for a in structures]) - e_elec.detach().numpy()
    np.testing.assert_allclose(shift, np.linalg.lstsq(counts, target, rcond=None)[0], atol=1e-10)


def test_training_on_charges_needs_reference_charges(rng):
    structures = labelled(rng, 4)
    del structures[0].arrays["charges"]
    with pytest.raises(ValueError, match=r"structure \d+ has no reference charges"):
        fit(FourthGeneration(acsf()), structures, structures, epochs=1, energy_weight=0, force_weight=0,
            charge_weight=1, progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu(rng):
    model = scrambled(FourthGeneration(acsf(), hidden=(6, 6)))
    structures = [cluster(rng, 2, 3, -1.0), cluster(rng, 3, 2, 1.0)]
    cpu = compute(model, atoms_to_batch(structures))
    gpu = compute(model.to("cuda"), atoms_to_batch(structures, device="cuda"))
    for key in ("energy", "forces"):
        np.testing.assert_allclose(gpu[key].cpu().numpy(), cpu[key].numpy(), rtol=0, atol=1e-9)
