"""The equivariant (NequIP-style) network, minnp/models/equivariant.py, notebook 14."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from conftest import finite_difference_forces, finite_difference_stress, peer

import minnp
from minnp import Calculator, atoms_to_batch, checkpoint, compute
from minnp.models import EquivariantFeatures, MessagePassingPotential
from minnp.models.equivariant import wigner_D
from minnp.train import evaluate, fit


def make(l_max: int = 2, charges=None, species=("H", "C", "O"), n_interactions: int = 2, r_cut: float = 4.0,
         dtype=torch.float64, total_charge: bool = False) -> MessagePassingPotential:
    features = EquivariantFeatures(list(species), r_cut=r_cut, n_features=4, l_max=l_max,
                                   n_interactions=n_interactions, n_basis=4, radial_hidden=6, total_charge=total_charge)
    model = MessagePassingPotential(features, charges=charges, hidden=(6,), dtype=dtype)
    generator = torch.Generator().manual_seed(0)  # every weight drawn at random: every path matters
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=generator, dtype=torch.float64).to(dtype))
    return model


def ethanol(rng) -> Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.positions += rng.normal(0, 0.1, atoms.positions.shape)
    return atoms


def orthogonal(rng, reflect: bool) -> torch.Tensor:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    q = q if np.linalg.det(q) > 0 else -q  # a proper rotation ...
    return torch.tensor(-q if reflect else q)  # ... or a rotation times the inversion


@pytest.mark.parametrize("l_max", [0, 1, 2])
@pytest.mark.parametrize("reflect", [False, True])
def test_every_feature_order_transforms_with_its_wigner_matrix(rng, l_max, reflect):
    """Rotate (or reflect) the input: each layer's l-blocks move by D^l(R), l = 1 by R itself."""
    model = make(l_max, n_interactions=3)
    net = model.descriptor
    atoms = ethanol(rng)
    for _ in range(3):
        R = orthogonal(rng, reflect)
        batch = atoms_to_batch(atoms)
        moved = batch.replace(positions=batch.positions @ R.T + torch.tensor([0.3, -1.0, 2.0]))
        with torch.no_grad():
            before, after = net.layer_features(batch), net.layer_features(moved)
        assert len(before) == 4
        for irreps, h, h_moved in zip(net.feature_irreps, before, after):
            np.testing.assert_allclose(h @ wigner_D(irreps, R).T, h_moved, atol=1e-10, rtol=0)
            assert h.abs().max() > 1e-3  # the features are not trivially zero
        if l_max >= 1:  # the first vector block of a hidden layer: D^1(R) = R in e3nn's (x, y, z) order
            C = net.n_features
            np.testing.assert_allclose(wigner_D(net.feature_irreps[1], R)[C:C + 3, C:C + 3], R, atol=1e-14)
            vectors, vectors_moved = before[1][:, C:4 * C].reshape(-1, C, 3), after[1][:, C:4 * C].reshape(-1, C, 3)
            np.testing.assert_allclose(vectors @ R.T, vectors_moved, atol=1e-10, rtol=0)


@pytest.mark.parametrize("l_max", [0, 2])
def test_energy_invariant_and_forces_rotate_under_rotation_reflection_translation_permutation(rng, l_max):
    model = make(l_max)
    atoms = ethanol(rng)
    reference = compute(model, atoms_to_batch(atoms))
    R = orthogonal(rng, reflect=True).numpy()
    order = rng.permutation(len(atoms))
    moved = Atoms(atoms.numbers[order], positions=(atoms.positions @ R.T + [1.0, 2.0, -3.0])[order])
    out = compute(model, atoms_to_batch(moved))
    np.testing.assert_allclose(out["energy"], reference["energy"], atol=1e-12, rtol=0)
    np.testing.assert_allclose(out["forces"], (reference["forces"].numpy() @ R.T)[order], atol=1e-10, rtol=0)


@pytest.mark.parametrize("l_max", [0, 1, 2])
def test_forces_match_finite_differences(rng, l_max):
    model = make(l_max)
    atoms = ethanol(rng)
    forces = compute(model, atoms_to_batch(atoms))["forces"].numpy()
    np.testing.assert_allclose(forces, finite_difference_forces(model, atoms), rtol=1e-6, atol=1e-7)


def test_periodic_forces_and_stress_match_finite_differences(rng):
    """A small triclinic cell (several images of one atom inside the cutoff) works as any model does."""
    model = make(2, species=("H", "O"), r_cut=3.0)
    atoms = Atoms("OH2OH2", positions=rng.uniform(0, 3.5, (6, 3)), cell=np.eye(3) * 3.6 + rng.normal(0, 0.2, (3, 3)),
                  pbc=True)
    out = compute(model, atoms_to_batch(atoms), stress=True)
    np.testing.assert_allclose(out["forces"].numpy(), finite_difference_forces(model, atoms), rtol=1e-6, atol=1e-7)
    entries = [(0, 0), (1, 2), (0, 1)]
    fd = finite_difference_stress(model, atoms, entries)
    for a, b in entries:
        np.testing.assert_allclose(out["stress"][0, a, b].item(), fd[a, b], rtol=1e-5, atol=1e-8)


def test_batched_equals_one_by_one(rng):
    model = make(2)
    structures = [ethanol(rng), molecule("H2O"), molecule("CH4"), ethanol(rng)]
    together = compute(model, atoms_to_batch(structures))
    alone = [compute(model, atoms_to_batch(a)) for a in structures]
    np.testing.assert_allclose(together["energy"], torch.cat([o["energy"] for o in alone]), atol=1e-12, rtol=0)
    np.testing.assert_allclose(together["forces"], torch.cat([o["forces"] for o in alone]), atol=1e-12, rtol=0)


def test_distance_only_network_cannot_tell_bent_from_linear_but_l1_can():
    """C with two H at 1.5 Å, 90° or 180° apart, r_cut 2 Å (the H do not see each other): every atom
    has the same list of neighbour distances, so the l = 0 network gives both the same energy;
    with l = 1 the first layer's vector on C, Σ_j Y¹(r̂_j), vanishes only for the linear one."""
    bent = Atoms("CH2", positions=[[0, 0, 0], [1.5, 0, 0], [0, 1.5, 0]])
    linear = Atoms("CH2", positions=[[0, 0, 0], [1.5, 0, 0], [-1.5, 0, 0]])
    batch = atoms_to_batch([bent, linear])
    energies = {}
    for l_max in (0, 1):
        model = make(l_max, species=("H", "C"), r_cut=2.0)
        energies[l_max] = compute(model, batch, forces=False)["energy"]
    assert abs(energies[0][0] - energies[0][1]) < 1e-12
    assert abs(energies[1][0] - energies[1][1]) > 1e-6  # small (cutoff envelope), but not rounding
    with torch.no_grad():
        vectors_on_carbon = model.descriptor.layer_features(batch)[1][[0, 3], 4:].norm(dim=1)  # (2,) bent, linear
    assert vectors_on_carbon[0] > 1e-3 and vectors_on_carbon[1] < 1e-12


def test_float32_model_agrees_with_float64(rng):
    model64 = make(2)
    model32 = make(2, dtype=torch.float32)
    atoms = ethanol(rng)
    out64 = compute(model64, atoms_to_batch(atoms))
    out32 = compute(model32, atoms_to_batch(atoms, dtype=torch.float32))
    assert out32["forces"].dtype == torch.float32
    np.testing.assert_allclose(out32["energy"].double(), out64["energy"], rtol=1e-5)
    np.testing.assert_allclose(out32["forces"].double(), out64["forces"], atol=1e-4 * float(out64["forces"].abs().max()))


@pytest.mark.parametrize("charges, total_charge", [(None, False), ("qeq", False), (None, True)])
def test_checkpoint_round_trip_is_bitwise(rng, tmp_path, charges, total_charge):
    model = make(2, charges=charges, total_charge=total_charge)
    cation = ethanol(rng)
    cation.info["charge"] = 1.0
    batch = atoms_to_batch(cation)
    model.save(tmp_path / "nequip.pt")
    loaded = checkpoint.load(tmp_path / "nequip.pt")
    assert isinstance(loaded.descriptor, EquivariantFeatures)
    assert loaded.descriptor.config() == model.descriptor.config()
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert torch.equal(compute(model, batch)["forces"], compute(loaded, batch)["forces"])


def test_trains_with_fit_and_runs_in_ase(rng):
    """fit lowers the force error on held-out frames; the ASE calculator gives the same forces."""
    torch.manual_seed(0)
    frames = []
    for k in range(24):
        atoms = molecule("H2O")
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        d = atoms.get_all_distances()
        energy = 3.0 * ((d[0, 1] - 0.97) ** 2 + (d[0, 2] - 0.97) ** 2) + 0.5 * (d[1, 2] - 1.52) ** 2
        forces = -np.stack([_numerical_gradient(atoms, i) for i in range(3)])
        frames.append(minnp.data.label(atoms, energy=energy, forces=forces))
    model = MessagePassingPotential(EquivariantFeatures(["H", "O"], r_cut=3.0, n_features=4, l_max=1, n_basis=4),
                                    hidden=(8,))
    before = evaluate(model, frames[16:])["force_rmse"]
    fit(model, frames[:16], frames[16:20], epochs=30, batch_size=4, lr=1e-2, progress=False)
    after = evaluate(model, frames[20:])["force_rmse"]
    assert after < 0.6 * before
    atoms = frames[20].copy()
    atoms.calc = Calculator(model, device="cpu")
    np.testing.assert_allclose(atoms.get_forces(), compute(model, atoms_to_batch(atoms))["forces"].numpy(), atol=1e-12)


def _numerical_gradient(atoms: Atoms, i: int, h: float = 1e-6) -> np.ndarray:
    """∂E/∂x_i of the harmonic water of the test above, by central differences."""
    def energy(positions):
        d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
        return 3.0 * ((d[0, 1] - 0.97) ** 2 + (d[0, 2] - 0.97) ** 2) + 0.5 * (d[1, 2] - 1.52) ** 2
    grad = np.zeros(3)
    for a in range(3):
        plus, minus = atoms.positions.copy(), atoms.positions.copy()
        plus[i, a] += h
        minus[i, a] -= h
        grad[a] = (energy(plus) - energy(minus)) / (2 * h)
    return grad


def test_qeq_head_on_equivariant_features_conserves_the_total_charge():
    """The blog's combination, equivariant GNN + Qeq, on Ag3±: charges sum to each structure's Q."""
    model = make(1, charges="qeq", species=("Ag",))
    ions = []
    for charge in (1.0, -1.0):
        atoms = Atoms("Ag3", positions=[[0, 0, 0], [2.7, 0, 0], [1.2, 2.3, 0.1]])
        atoms.info["charge"] = charge
        ions.append(atoms)
    batch = atoms_to_batch(ions)
    out = compute(model, batch, charges=True)
    totals = minnp.batch.sum_per_structure(out["charges"], batch)
    np.testing.assert_allclose(totals, [1.0, -1.0], atol=1e-8)
    assert abs(out["energy"][0] - out["energy"][1]) > 1e-3  # same geometry, different charge: told apart


def _ag3_ions() -> list[Atoms]:
    ions = []
    for charge in (1.0, -1.0, 0.0):
        atoms = Atoms("Ag3", positions=[[0, 0, 0], [2.7, 0, 0], [1.2, 2.3, 0.1]])
        atoms.info["charge"] = charge
        ions.append(atoms)
    return ions


def test_total_charge_input_tells_charge_states_apart_and_keeps_equivariance(rng):
    """h⁰ = a_Z + Q·w: the same Ag3 geometry gets three energies for Q = +1, -1, 0; without the
    input all three are equal; features still rotate with D(R) and forces equal finite differences."""
    ions = _ag3_ions()
    blind = compute(make(1, species=("Ag",)), atoms_to_batch(ions), forces=False)["energy"]
    np.testing.assert_allclose(blind, blind[0].expand(3), atol=1e-12, rtol=0)
    model = make(1, species=("Ag",), total_charge=True)
    energies = compute(model, atoms_to_batch(ions), forces=False)["energy"]
    assert min(abs(energies[0] - energies[1]), abs(energies[0] - energies[2]), abs(energies[1] - energies[2])) > 1e-3
    net = model.descriptor
    R = orthogonal(rng, reflect=True)
    batch = atoms_to_batch(ions[:2])
    moved = batch.replace(positions=batch.positions @ R.T + torch.tensor([0.3, -1.0, 2.0]))
    with torch.no_grad():
        before, after = net.layer_features(batch), net.layer_features(moved)
    for irreps, h, h_moved in zip(net.feature_irreps, before, after):
        np.testing.assert_allclose(h @ wigner_D(irreps, R).T, h_moved, atol=1e-10, rtol=0)
    forces = compute(model, atoms_to_batch(ions[1]))["forces"].numpy()
    np.testing.assert_allclose(forces, finite_difference_forces(model, ions[1]), rtol=1e-6, atol=1e-7)


def test_bad_input_is_refused_with_the_fix(rng):
    with pytest.raises(ValueError, match="l_max must be"):
        EquivariantFeatures(["H"], l_max=5)
    with pytest.raises(ValueError, match="r_cut must be a positive distance"):
        EquivariantFeatures(["H"], r_cut=-1.0)
    with pytest.raises(ValueError, match="n_features must be a whole number"):
        EquivariantFeatures(["H"], n_features=0)
    model = make(1, species=("H", "C"))
    with pytest.raises(ValueError, match="species 'O' not among"):
        compute(model, atoms_to_batch(molecule("H2O")))
    isolated_only = MessagePassingPotential(EquivariantFeatures(["H"], periodic=False))
    crystal = Atoms("H2", positions=[[0, 0, 0], [0.8, 0, 0]], cell=np.eye(3) * 3, pbc=True)
    with pytest.raises(ValueError, match="periodic=False"):
        compute(isolated_only, atoms_to_batch(crystal))


# ---- the data of notebook 14 (data/md_molecules_xtb, made by tools/make_md_molecules.py) ----------


def test_md_molecules_split_by_trajectory_and_labels_reproduce_with_gfn2_xtb():
    """Counts per molecule and split as the card says; the first frame of each trajectory relabelled
    from scratch with GFN2-xTB gives the stored energy and forces; net force zero (an isolated molecule)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "md_molecules_xtb" / "md_molecules_xtb.extxyz.gz"
    structures = minnp.data.read(path)
    counts = {}
    for atoms in structures:
        key = (atoms.info["molecule"], atoms.info["split"])
        counts[key] = counts.get(key, 0) + 1
        assert atoms.info["group"].endswith("trajectory 1" if atoms.info["split"] == "train" else "trajectory 2")
        np.testing.assert_allclose(atoms.get_forces().sum(axis=0), 0.0, atol=1e-4)
    assert counts == {(m, s): n for m in ("ethanol", "malonaldehyde") for s, n in (("train", 1500), ("test", 500))}
    peer("tblite")  # the labeller
    from tools.make_datasets import xtb_label

    for atoms in [a for a in structures if a.info["frame"] == 0]:
        fresh = xtb_label(Atoms(atoms.numbers, positions=atoms.positions), 0.0)
        np.testing.assert_allclose(fresh.get_potential_energy(), atoms.get_potential_energy(), atol=1e-6)
        np.testing.assert_allclose(fresh.get_forces(), atoms.get_forces(), atol=1e-5)
