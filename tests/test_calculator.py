"""minnp.calculator and the Lennard-Jones module: energy, forces and stress proved three ways.

Against ASE's own LennardJones (an independent implementation), against finite differences,
and by the symmetries every potential must have.
"""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.lj import LennardJones as AseLennardJones
from ase.eos import EquationOfState
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase.units import fs
from conftest import finite_difference_forces, random_cell_structure
from scipy.spatial.transform import Rotation

import minnp
from minnp.potentials import LennardJones

ARGON = dict(epsilon=0.0104, sigma=3.40)


def _rattled_argon(rng, pbc=True, repeat=2, strain=0.03):
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(repeat)
    atoms.rattle(0.15, seed=int(rng.integers(1 << 30)))
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain * rng.normal(size=(3, 3))), scale_atoms=True)
    atoms.pbc = pbc
    return atoms


def _both(atoms, **kw):
    ours, theirs = atoms.copy(), atoms.copy()
    ours.calc = minnp.Calculator(LennardJones(**ARGON, **kw))
    theirs.calc = AseLennardJones(**ARGON, **{"rc": kw.get("r_cut", 3 * 3.40), "smooth": kw.get("smooth", False)})
    return ours, theirs


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("pbc", [True, (True, False, True), False])
def test_lj_energy_forces_stress_equal_ase(rng, smooth, pbc):
    ours, theirs = _both(_rattled_argon(rng, pbc), smooth=smooth)
    assert abs(ours.get_potential_energy() - theirs.get_potential_energy()) < 1e-10
    np.testing.assert_allclose(ours.get_potential_energies(), theirs.get_potential_energies(), atol=1e-10)
    np.testing.assert_allclose(ours.get_forces(), theirs.get_forces(), atol=1e-10)
    if pbc is False:  # a cluster has no stress: refused (ASE's LJ returns one that depends on the box)
        with pytest.raises(PropertyNotImplementedError, match="pbc=False"):
            ours.get_stress()
    else:
        np.testing.assert_allclose(ours.get_stress(), theirs.get_stress(), atol=1e-10)


def test_lj_equals_ase_in_a_cell_smaller_than_the_cutoff(rng):
    atoms = random_cell_structure(rng, n_atoms=3, scale=3.6)  # cutoff 10.2 Å: many images
    atoms.positions = atoms.positions * 1.0
    ours, theirs = _both(atoms)
    assert abs(ours.get_potential_energy() - theirs.get_potential_energy()) < 1e-10 * max(1, abs(theirs.get_potential_energy()))
    np.testing.assert_allclose(ours.get_forces(), theirs.get_forces(), atol=1e-10, rtol=1e-10)


def test_forces_match_finite_differences(rng):
    atoms = _rattled_argon(rng)
    model = LennardJones(**ARGON, smooth=True)
    forces = minnp.compute(model, minnp.atoms_to_batch(atoms))["forces"].numpy()
    entries = [(0, 0), (3, 1), (17, 2), (30, 0)]
    fd = finite_difference_forces(model, atoms, entries)
    for i, a in entries:
        assert abs(forces[i, a] - fd[i, a]) < 1e-8


def test_stress_matches_finite_strain_derivative(rng):
    atoms = _rattled_argon(rng)
    model = LennardJones(**ARGON, smooth=True)
    stress = minnp.compute(model, minnp.atoms_to_batch(atoms), stress=True)["stress"][0].numpy()
    h = 1e-6
    volume = atoms.get_volume()
    for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)]:
        e = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] = eps[b, a] = sign * h / (1 if a == b else 2)
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            e.append(minnp.compute(model, minnp.atoms_to_batch(strained), forces=False)["energy"].item())
        fd = (e[0] - e[1]) / (2 * h) / volume
        assert abs(stress[a, b] - fd) < 1e-9


def test_per_atom_energies_sum_to_the_total(rng):
    atoms = _rattled_argon(rng)
    atoms.calc = minnp.Calculator(LennardJones(**ARGON))
    assert abs(atoms.get_potential_energies().sum() - atoms.get_potential_energy()) < 1e-12


def test_energy_is_invariant_under_rotation_translation_and_permutation(rng):
    cluster = _rattled_argon(rng, pbc=False)
    model = LennardJones(**ARGON)

    def energy_forces(atoms):
        out = minnp.compute(model, minnp.atoms_to_batch(atoms))
        return out["energy"].item(), out["forces"].numpy()

    e0, f0 = energy_forces(cluster)
    rotation = Rotation.random(random_state=1).as_matrix()
    moved = cluster.copy()
    moved.positions = cluster.positions @ rotation.T + [3.0, -1.0, 7.5]
    e1, f1 = energy_forces(moved)
    perm = rng.permutation(len(cluster))
    e2, f2 = energy_forces(cluster[perm])
    assert abs(e1 - e0) < 1e-12 and abs(e2 - e0) < 1e-12
    np.testing.assert_allclose(f1, f0 @ rotation.T, atol=1e-12)  # forces rotate with the structure
    np.testing.assert_allclose(f2, f0[perm], atol=1e-12)


def test_periodic_energy_is_invariant_under_rotating_cell_and_atoms(rng):
    atoms = _rattled_argon(rng)
    rotation = Rotation.random(random_state=2).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rotation.T
    model = LennardJones(**ARGON)
    e = [minnp.compute(model, minnp.atoms_to_batch(a), forces=False)["energy"].item() for a in (atoms, rotated)]
    assert abs(e[0] - e[1]) < 1e-12


def test_batch_results_equal_one_by_one_results(rng):
    structures = [_rattled_argon(rng), _rattled_argon(rng, pbc=False, repeat=1), molecule("CH4")]
    model = LennardJones(**ARGON)
    together = minnp.compute(model, minnp.atoms_to_batch(structures), stress=False)
    forces = np.concatenate([minnp.compute(model, minnp.atoms_to_batch(a))["forces"].numpy() for a in structures])
    energies = [minnp.compute(model, minnp.atoms_to_batch(a))["energy"].item() for a in structures]
    np.testing.assert_allclose(together["energy"].numpy(), energies, atol=1e-12)
    np.testing.assert_allclose(together["forces"].numpy(), forces, atol=1e-12)


def test_ase_md_optimizer_and_eos_run_through_the_calculator():
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=3)
    atoms.calc = minnp.Calculator(LennardJones(**ARGON, smooth=True))
    e_start = atoms.get_total_energy()
    VelocityVerlet(atoms, timestep=2 * fs).run(20)
    assert abs(atoms.get_total_energy() - e_start) < 1e-4
    BFGS(atoms, logfile=None).run(fmax=1e-4, steps=200)
    assert np.abs(atoms.get_forces()).max() < 1e-4
    volumes, energies = [], []
    for a in np.linspace(5.0, 5.6, 7):
        crystal = bulk("Ar", "fcc", a=a)
        crystal.calc = minnp.Calculator(LennardJones(**ARGON))
        volumes.append(crystal.get_volume())
        energies.append(crystal.get_potential_energy())
    v0, _, _ = EquationOfState(volumes, energies).fit()
    assert 5.1 < (4 * v0) ** (1 / 3) < 5.4


def test_a_cluster_has_no_stress_whatever_its_box():
    atoms = molecule("CH4")
    atoms.calc = minnp.Calculator(LennardJones())
    atoms.get_forces()  # fine
    for box in (None, 10.0, 20.0):  # no cell, and two arbitrary boxes: refused the same way
        if box is not None:
            atoms.set_cell([box] * 3)
        with pytest.raises(PropertyNotImplementedError, match="pbc=False everywhere.*energy and forces only"):
            atoms.get_stress()


def test_stress_needs_a_three_dimensional_cell():
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [3.8, 0, 0]], cell=[7.6, 0, 0], pbc=[True, False, False])
    atoms.calc = minnp.Calculator(LennardJones(**ARGON))
    atoms.get_forces()  # a chain periodic along x: energy and forces are fine
    with pytest.raises(PropertyNotImplementedError, match="three-dimensional cell"):
        atoms.get_stress()


def test_calculator_computes_only_the_properties_asked_for(monkeypatch):
    import minnp.calculator

    calls, compute = [], minnp.calculator.compute

    def recording(model, batch, forces=True, stress=False, **kwargs):
        calls.append((forces, stress))
        return compute(model, batch, forces=forces, stress=stress, **kwargs)

    monkeypatch.setattr(minnp.calculator, "compute", recording)
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True)
    atoms.calc = minnp.Calculator(LennardJones(**ARGON), device="cpu")
    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_stress()
    atoms.get_forces()  # cached: no new call
    assert calls == [(False, False), (True, False), (False, True)]


def test_calculator_leaves_the_callers_model_untouched():
    from minnp.descriptors import ACSF
    from minnp.models import HDNNP

    model = HDNNP(ACSF(["Ar"], r_cut=4.0, g2_params=[[0.5, 3.0]], periodic=True), hidden=(3,), dtype=torch.float32)
    atoms = bulk("Ar", "fcc", a=5.3)
    atoms.calc = calc = minnp.Calculator(model, device="cpu")  # float64 by default
    atoms.get_potential_energy()
    assert all(t.dtype == torch.float32 for t in model.state_dict().values()), "the caller's model stays float32"
    assert calc.model is not model and all(t.dtype == torch.float64 for t in calc.model.state_dict().values())
    same = LennardJones(**ARGON, smooth=True)
    assert minnp.Calculator(same, device="cpu").model is same, "a model that already matches is used as is"


def test_device_without_cuda_is_the_cpu_and_batches_land_there(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert minnp.device() == torch.device("cpu")
    batch = minnp.atoms_to_batch(bulk("Ar", "fcc", a=5.3), device=minnp.device())
    assert batch.positions.device.type == "cpu" and batch.cell.device.type == "cpu"
    assert minnp.Calculator(LennardJones(**ARGON)).device == torch.device("cpu")


def test_float32_runs_and_agrees_with_float64(rng):
    atoms = _rattled_argon(rng)
    e = [minnp.compute(LennardJones(**ARGON), minnp.atoms_to_batch(atoms, dtype=dt))["energy"].item()
         for dt in (torch.float32, torch.float64)]
    assert abs(e[0] - e[1]) < 1e-5 * abs(e[1])
