"""SchNet and the message-passing potential (minnp/models/message_passing.py), notebook 13."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from conftest import finite_difference_forces, finite_difference_stress, nacl_cluster

from minnp import Calculator, atoms_to_batch, compute, data
from minnp.descriptors.properties import check_invariances
from minnp.models import MessagePassingPotential, SchNet
from minnp.train import evaluate, fit

VARIANTS = {"gnn": {}, "direct": {"charges": "direct"}, "direct-free": {"charges": "direct", "conserve": False},
            "qeq": {"charges": "qeq"}, "total-charge": {"total_charge": True}}


def make(variant: str = "gnn", n_interactions: int = 2, r_cut: float = 4.0, species=("Na", "Cl"),
         dtype=torch.float64) -> MessagePassingPotential:
    options = dict(VARIANTS[variant])
    schnet = SchNet(list(species), r_cut=r_cut, n_features=8, n_interactions=n_interactions, n_basis=6,
                    total_charge=options.pop("total_charge", False))
    if "charges" in options:  # Ewald summed to 1e-12: finite differences of the energy resolve the stress
        options["accuracy"] = 1e-12
    model = MessagePassingPotential(schnet, hidden=(6,), dtype=dtype, **options)
    generator = torch.Generator().manual_seed(0)  # every weight drawn at random: every term matters
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=generator, dtype=torch.float64).to(dtype))
    return model


def cluster(rng, n_na=3, n_cl=2, charge=1.0) -> Atoms:
    return nacl_cluster(rng, n_na, n_cl, charge)


def crystal(rng) -> Atoms:
    atoms = bulk("NaCl", "rocksalt", a=5.4).repeat((1, 1, 2))
    atoms.positions += rng.normal(0, 0.1, atoms.positions.shape)
    atoms.cell = atoms.cell.array + rng.normal(0, 0.05, (3, 3))
    return atoms


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forces_match_finite_differences(rng, variant):
    model = make(variant)
    atoms = cluster(rng)
    forces = compute(model, atoms_to_batch(atoms))["forces"].numpy()
    np.testing.assert_allclose(forces, finite_difference_forces(model, atoms), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("variant", ["gnn", "qeq", "direct"])
def test_periodic_forces_and_stress_match_finite_differences(rng, variant):
    model = make(variant)
    atoms = crystal(rng)
    out = compute(model, atoms_to_batch(atoms), stress=True)
    entries = [(0, 0), (1, 2), (2, 2)]
    fd = finite_difference_stress(model, atoms, entries)
    for a, b in entries:
        assert out["stress"][0, a, b].item() == pytest.approx(fd[a, b], rel=1e-6, abs=1e-8)
    some = [(0, 0), (2, 1), (3, 2)]
    fd_forces = finite_difference_forces(model, atoms, some)
    for i, a in some:
        assert out["forces"][i, a].item() == pytest.approx(fd_forces[i, a], rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("variant", ["gnn", "qeq"])
def test_energies_are_invariant_under_translation_rotation_permutation(rng, variant):
    model = make(variant)

    def energies(atoms):
        return compute(model, atoms_to_batch(atoms), forces=False)["energies"].numpy()[:, None]

    check_invariances(energies, cluster(rng), tol=1e-10)
    check_invariances(energies, crystal(rng), tol=1e-9)  # with a doubled supercell


@pytest.mark.parametrize("variant", ["gnn", "direct", "qeq", "total-charge"])
def test_batched_equals_one_by_one(rng, variant):
    model = make(variant)
    structures = [cluster(rng, 3, 2, 1.0), crystal(rng), cluster(rng, 2, 3, -1.0)]
    together = compute(model, atoms_to_batch(structures))
    for k, atoms in enumerate(structures):
        alone = compute(model, atoms_to_batch(atoms))
        np.testing.assert_allclose(together["energy"][k].item(), alone["energy"][0].item(), rtol=1e-12)
        rows = slice(sum(map(len, structures[:k])), sum(map(len, structures[:k + 1])))
        np.testing.assert_allclose(together["forces"][rows].numpy(), alone["forces"].numpy(), atol=1e-11)


def test_receptive_field_is_layers_times_cutoff():
    """Atoms 3 Å apart on a line, r_cut 4 Å: atom 3 reaches atom 0 in three hops, not in two."""
    atoms = Atoms("Na5", positions=[[3.0 * k, 0, 0] for k in range(5)])
    moved = atoms.copy()
    moved.positions[3, 1] += 0.3
    for layers, sees in ((2, False), (3, True)):
        model = make("gnn", n_interactions=layers, species=["Na"])
        e0, e1 = (compute(model, atoms_to_batch(a), forces=False)["energies"][0].item() for a in (atoms, moved))
        assert (abs(e1 - e0) > 1e-8) is sees, (layers, e0, e1)
        assert model.descriptor.receptive_field == layers * 4.0


@pytest.mark.parametrize("variant", ["direct", "qeq"])
def test_conserving_heads_give_the_total_charge(rng, variant):
    model = make(variant)
    structures = [cluster(rng, 3, 2, 1.0), cluster(rng, 2, 3, -1.0), crystal(rng), cluster(rng, 2, 2, 2.0)]
    batch = atoms_to_batch(structures)
    q = model.charges(batch).detach()
    sums = torch.zeros(4, dtype=q.dtype).index_add_(0, batch.structure, q)
    np.testing.assert_allclose(sums.numpy(), [1.0, -1.0, 0.0, 2.0], rtol=0, atol=1e-12)


def test_free_direct_charges_do_not_add_up_and_the_total_charge_input_tells_charge_states_apart(rng):
    atoms = cluster(rng, 3, 2, 0.0)
    free = make("direct-free")
    assert abs(free.charges(atoms_to_batch(atoms)).sum().item()) > 1e-3
    model = make("total-charge")
    plus, minus = atoms.copy(), atoms.copy()
    plus.info["charge"], minus.info["charge"] = 1.0, -1.0
    e_plus, e_minus = (compute(model, atoms_to_batch(a), forces=False)["energy"].item() for a in (plus, minus))
    assert abs(e_plus - e_minus) > 1e-3
    blind = make("gnn")
    e_plus, e_minus = (compute(blind, atoms_to_batch(a), forces=False)["energy"].item() for a in (plus, minus))
    assert e_plus == e_minus


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_checkpoint_round_trips_bitwise(rng, tmp_path, variant):
    model = make(variant)
    model.save(tmp_path / "model.pt")
    loaded = MessagePassingPotential.load(tmp_path / "model.pt")
    assert loaded.config() == model.config()
    assert loaded.descriptor.config() == model.descriptor.config()
    batch = atoms_to_batch([cluster(rng), crystal(rng)])
    a, b = compute(model, batch), compute(loaded, batch)
    assert torch.equal(a["energy"], b["energy"]) and torch.equal(a["forces"], b["forces"])


def test_float32_agrees_with_float64(rng):
    structures = [cluster(rng), crystal(rng)]
    out64 = compute(make("qeq"), atoms_to_batch(structures))
    model32 = make("qeq", dtype=torch.float32)
    out32 = compute(model32, atoms_to_batch(structures, dtype=torch.float32))
    assert out32["energy"].dtype == torch.float32
    np.testing.assert_allclose(out32["energy"].numpy(), out64["energy"].numpy(), rtol=1e-4)
    np.testing.assert_allclose(out32["forces"].numpy(), out64["forces"].numpy(), atol=1e-3 * out64["forces"].abs().max().item())


def labelled(rng, count):
    """Clusters labelled by a random model with charges (a teacher the student can represent)."""
    teacher = make("qeq")
    structures = []
    for k in range(count):
        atoms = cluster(rng, 2 + k % 2, 2, charge=float(k % 2))
        out = compute(teacher, atoms_to_batch(atoms), charges=True)
        data.label(atoms, energy=out["energy"].item(), forces=out["forces"].numpy(), charges=out["charges"].numpy())
        structures.append(atoms)
    return structures


@pytest.mark.parametrize("variant", ["gnn", "qeq"])
def test_fit_trains_energies_forces_and_charges_and_calculator_runs_it(rng, variant):
    structures = labelled(rng, 12)
    torch.manual_seed(1)
    model = MessagePassingPotential(SchNet(["Na", "Cl"], r_cut=4.0, n_features=8, n_interactions=2, n_basis=6),
                                    hidden=(6,), **VARIANTS[variant])
    charges = variant != "gnn"
    before = evaluate(model, structures[8:], charges=charges)
    history = fit(model, structures[:8], structures[8:], epochs=5, batch_size=4, lr=1e-2,
                  charge_weight=1.0 if charges else 0.0, progress=False)
    after = evaluate(model, structures[8:], charges=charges)
    assert after["force_rmse"] < before["force_rmse"]
    assert len(history["epoch"]) == 5
    with pytest.raises(ValueError, match="refit_scaling"):
        fit(model, structures[:8], structures[8:], epochs=1, progress=False)
    atoms = structures[0].copy()
    atoms.calc = Calculator(model)
    np.testing.assert_allclose(atoms.get_forces(), compute(model, atoms_to_batch(atoms))["forces"].numpy(), atol=1e-12)


def test_bad_input_gets_clear_errors(rng):
    with pytest.raises(ValueError, match="charges must be None"):
        MessagePassingPotential(SchNet(["Na"], n_features=4), charges="eem")
    with pytest.raises(ValueError, match="n_interactions"):
        SchNet(["Na"], n_interactions=-1)
    with pytest.raises(ValueError, match="r_cut"):
        SchNet(["Na"], r_cut=0.0)
    with pytest.raises(ValueError, match="'K'"):
        compute(make("gnn"), atoms_to_batch(Atoms("NaK", positions=[[0, 0, 0], [3, 0, 0]])))
    with pytest.raises(ValueError, match="periodic=True"):
        model = MessagePassingPotential(SchNet(["Na", "Cl"], n_features=4, periodic=False))
        compute(model, atoms_to_batch(crystal(rng)))
    with pytest.raises(TypeError, match="predicts no charges"):
        make("gnn").charges(atoms_to_batch(cluster(rng)))
    with pytest.raises(ValueError, match="hardness"):
        make("gnn").__class__(SchNet(["Na"], n_features=4), charges="qeq", hardness=-1.0)


def test_one_forward_pass_per_step_when_training_energies_forces_and_charges(rng, monkeypatch):
    structures = labelled(rng, 12)
    model = MessagePassingPotential(SchNet(["Na", "Cl"], r_cut=4.0, n_features=4, n_interactions=1, n_basis=4),
                                    hidden=(4,), charges="qeq")
    passes = []
    original = model.energy_terms
    monkeypatch.setattr(model, "energy_terms", lambda batch: passes.append(1) or original(batch))
    fit(model, structures[:8], structures[8:], epochs=1, batch_size=4, force_weight=0.1, charge_weight=1,
        progress=False)
    assert len(passes) == 1 + 2 + 1, "the energy shift, two training steps and one validation batch: one pass each"


def test_shifted_softplus_fast_equals_readable_in_value_first_and_second_derivative():
    from minnp.models.message_passing import shifted_softplus, shifted_softplus_fast
    x = torch.linspace(-15.0, 15.0, 301, dtype=torch.float64)
    results = []
    for ssp in (shifted_softplus, shifted_softplus_fast):
        xg = x.clone().requires_grad_()
        y = ssp(xg)
        (dy,) = torch.autograd.grad(y.sum(), xg, create_graph=True)
        (d2y,) = torch.autograd.grad(dy.sum(), xg)
        results.append((y.detach(), dy.detach(), d2y))
    for readable, fast in zip(*results):
        torch.testing.assert_close(fast, readable, atol=1e-12, rtol=0)
    assert float(shifted_softplus(torch.zeros(1))) == 0.0
    assert torch.autograd.gradgradcheck(shifted_softplus_fast, x[::30].clone().requires_grad_())


def test_schnet_training_gradients_with_the_fast_activation_equal_the_readable_ones(rng, monkeypatch):
    # the quantity training differentiates: a loss on energies and forces, by every weight
    from minnp.models import message_passing
    atoms = cluster(rng)
    reference_forces = torch.as_tensor(rng.normal(0, 0.5, (len(atoms), 3)))
    gradients = []
    for activation in (message_passing.shifted_softplus_fast, message_passing.shifted_softplus):
        monkeypatch.setattr(message_passing.Interaction, "activation", staticmethod(activation))
        model = make("gnn", n_interactions=3)
        out = compute(model, atoms_to_batch(atoms), create_graph=True)
        loss = out["energy"].sum() ** 2 + ((out["forces"] - reference_forces) ** 2).sum()
        gradients.append(torch.autograd.grad(loss, list(model.parameters()), allow_unused=True))
    for fast, readable in zip(*gradients):
        if readable is not None:
            torch.testing.assert_close(fast, readable, atol=1e-12, rtol=1e-12)
