"""minnp.batch: structures of any size -> flat tensors, and clear errors for bad input."""

import time

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from conftest import random_cell_structure

from minnp.batch import atomic_numbers, atoms_to_batch, check_species, sum_per_structure


def test_batch_stacks_structures_of_different_sizes_and_compositions():
    structures = [bulk("Si", cubic=True), molecule("H2O"), bulk("NaCl", "rocksalt", a=5.64)]
    structures[1].info["charge"] = -1
    b = atoms_to_batch(structures)
    assert b.positions.shape == (13, 3) and b.positions.dtype == torch.float64
    assert b.n_atoms.tolist() == [8, 3, 2] and b.ptr.tolist() == [0, 8, 11, 13]
    assert b.structure.tolist() == [0] * 8 + [1] * 3 + [2] * 2
    assert b.total_charge.tolist() == [0.0, -1.0, 0.0]
    assert b.pbc.tolist() == [[True] * 3, [False] * 3, [True] * 3]
    for original, back in zip(structures, b.to_atoms()):
        np.testing.assert_array_equal(original.numbers, back.numbers)
        np.testing.assert_allclose(original.positions, back.positions)
        np.testing.assert_allclose(original.cell.array, back.cell.array)


def test_sum_per_structure_adds_atoms_of_each_structure():
    b = atoms_to_batch([molecule("CH4"), molecule("H2O")])
    np.testing.assert_allclose(sum_per_structure(b.numbers.double(), b).numpy(), [10.0, 10.0])


def test_to_casts_floats_only():
    b = atoms_to_batch(molecule("CH4")).to(dtype=torch.float32)
    assert b.positions.dtype == torch.float32 and b.numbers.dtype == torch.long


def test_unknown_element_symbol_is_named():
    with pytest.raises(ValueError, match="unknown element symbol 'Qq'"):
        atomic_numbers(["Si", "Qq"])
    with pytest.raises(ValueError, match="atomic number 0"):
        atomic_numbers([0])
    assert atomic_numbers(["Si", "C", 8]) == [14, 6, 8]


def test_dummy_atoms_are_rejected():
    with pytest.raises(ValueError, match="unknown element"):
        atoms_to_batch(Atoms("X2", positions=[[0, 0, 0], [1, 0, 0]]))


def test_species_outside_a_model_are_named():
    b = atoms_to_batch(molecule("H2O"))
    with pytest.raises(ValueError, match=r"species 'O' not among this model's species \['H', 'Si'\]"):
        check_species(b.numbers, [1, 14])


def test_singular_cell_with_pbc_is_rejected():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1, 1, 1]], cell=[[2, 0, 0], [4, 0, 0], [0, 0, 3]], pbc=True)
    with pytest.raises(ValueError, match="cell is singular"):
        atoms_to_batch(atoms)


def test_zero_cell_without_pbc_is_fine():
    assert atoms_to_batch(molecule("H2O")).cell.abs().sum() == 0


def test_slab_with_vacuum_axis_needs_only_periodic_vectors():
    slab = Atoms("Cu", positions=[[0, 0, 0]], cell=[[2.5, 0, 0], [0, 2.5, 0], [0, 0, 0]], pbc=[True, True, False])
    assert atoms_to_batch(slab).n_structures == 1


def test_nan_positions_are_rejected():
    atoms = molecule("H2O")
    atoms.positions[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"non-finite .* positions at atoms \[1\]"):
        atoms_to_batch(atoms)


def test_empty_structures_are_rejected():
    with pytest.raises(ValueError, match="structure 1 has no atoms"):
        atoms_to_batch([molecule("H2O"), Atoms()])
    with pytest.raises(ValueError, match="no structures given"):
        atoms_to_batch([])


# ---- the neighbour cache cannot go stale ---------------------------------------------------------


def test_an_expanded_or_moved_copy_does_not_report_the_originals_pairs():
    batch = atoms_to_batch(bulk("Cu", "fcc", a=3.6, cubic=True))
    pairs = len(batch.neighbors(3.0))  # 12 nearest neighbours per atom, cached
    expanded = batch.replace(positions=batch.positions * 1.2, cell=batch.cell * 1.2)
    assert len(expanded.neighbors(3.0)) == 0 < pairs  # 1.2 · 2.55 Å > 3 Å: no pairs left
    positions = batch.positions.clone()
    positions[0, 2] += 0.9  # one atom moved
    moved = batch.replace(positions=positions)
    assert moved.neighbors(3.0) is not batch.neighbors(3.0)
    assert len(batch.neighbors(3.0)) == pairs  # the original's cache is untouched


def test_copies_with_the_same_geometry_share_the_cache():
    batch = atoms_to_batch(bulk("Cu", "fcc", a=3.6, cubic=True))
    nbrs = batch.neighbors(3.0)
    strain = torch.zeros(1, 3, 3, dtype=batch.dtype, requires_grad=True)  # what minnp.compute makes
    deform = torch.eye(3, dtype=batch.dtype) + strain
    positions = batch.positions.detach().requires_grad_() @ deform[0]
    copy = batch.replace(positions=positions, cell=batch.cell @ deform)
    assert copy.neighbors(3.0) is nbrs


def test_neighbors_without_periodicity_ignore_the_cell():
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True)
    batch = atoms_to_batch(crystal)
    cluster = atoms_to_batch(Atoms(crystal.numbers, crystal.positions))
    isolated = batch.neighbors(3.0, periodic=False)
    assert torch.equal(isolated.i, cluster.neighbors(3.0).i) and torch.all(isolated.shift == 0)
    assert len(batch.neighbors(3.0)) > len(isolated)  # the periodic list is cached separately


# ---- bad structures: one clear error, fast ------------------------------------------------------


def test_two_atoms_at_the_same_position_are_named():
    water = molecule("H2O")
    water.positions[2] = water.positions[0]
    with pytest.raises(ValueError, match=r"structure 1: atoms 0 \(O\) and 2 \(H\) are at the same position"
                                         r".*get_duplicate_atoms"):
        atoms_to_batch([molecule("CH4"), water])


def test_an_atom_on_another_atoms_periodic_image_is_named():
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True)
    crystal.positions[3] = crystal.positions[1] + crystal.cell[0] - [0, 0, 1e-6]  # outside the cell
    message = r"atoms 1 \(Cu\) and 3 \(Cu\) are at the same position.*periodic images"
    with pytest.raises(ValueError, match=message):
        atoms_to_batch(crystal)
    edge = Atoms("Cu2", positions=[[0, 1, 1], [3.6 - 1e-9, 1, 1]], cell=np.eye(3) * 3.6, pbc=True)
    with pytest.raises(ValueError, match="same position"):  # images across a cell face
        atoms_to_batch(edge)
    edge.pbc = False
    atoms_to_batch(edge)  # a cluster: 3.6 Å apart, fine


def test_a_nearly_singular_periodic_cell_fails_fast_naming_the_images_needed():
    cell = [[5, 0, 0], [5, 1e-3, 0], [0, 0, 5]]  # the second vector 0.001 Å from the first
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1, 1, 1]], cell=cell, pbc=True)
    start = time.perf_counter()
    message = r"lattice vector only 0.001 Å long.*5e\+03 images.*independent cell vectors"
    with pytest.raises(ValueError, match=message):
        atoms_to_batch(atoms)
    assert time.perf_counter() - start < 5.0  # an error, not a search that runs for minutes


def _closest_pair_by_ase(atoms) -> float:
    """The independent reference: ASE's minimum-image distances between all atoms."""
    d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return float(d[~np.eye(len(atoms), dtype=bool)].min())


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
def test_coinciding_atoms_are_found_exactly_where_ase_finds_them(rng, pbc):
    """Atoms on faces, edges and corners, images several cells away, and near misses: the sweep
    refuses a structure exactly when ASE's minimum-image distance is under SAME_POSITION."""
    from minnp.batch import SAME_POSITION

    refused = accepted = 0
    for trial in range(60):
        atoms = random_cell_structure(rng, n_atoms=5, pbc=pbc, scale=4.0)
        cell = atoms.cell.array
        fractional = atoms.get_scaled_positions(wrap=False)
        faces = rng.random(3) < 0.5  # put atom 0 on some faces (just inside or just outside)
        fractional[0, faces] = rng.choice([0.0, 1.0], faces.sum()) + rng.normal(0, 1e-7, faces.sum())
        shift = rng.integers(-1, 3, 3) * np.asarray(pbc)  # an image up to two cells away
        step = rng.normal(size=3)
        step *= (0.3 if trial % 2 else 3.0) * SAME_POSITION / np.linalg.norm(step)  # inside or just outside
        atoms.positions[0] = fractional[0] @ cell
        atoms.positions[1] = atoms.positions[0] + shift @ cell + step
        coinciding = _closest_pair_by_ase(atoms) < SAME_POSITION
        if coinciding:
            with pytest.raises(ValueError, match="are at the same position"):
                atoms_to_batch(atoms)
        else:
            atoms_to_batch(atoms)
        refused, accepted = refused + coinciding, accepted + (not coinciding)
    assert refused >= 20 and accepted >= 20, (refused, accepted)


def test_perfect_crystals_with_atoms_on_every_face_are_accepted():
    for atoms in (bulk("Si", "diamond", a=5.43, cubic=True) * (3, 3, 3), bulk("Cu", "fcc", a=3.6) * (4, 4, 4),
                  bulk("Ti", "hcp", a=2.95, c=4.68) * (3, 3, 2), bulk("NaCl", "rocksalt", a=5.64)):
        atoms_to_batch(atoms)
        atoms.positions[-1] = atoms.positions[0] + atoms.cell.array.sum(axis=0)  # on the far corner image
        with pytest.raises(ValueError, match=f"atoms 0 .* and {len(atoms) - 1} .* same position"):
            atoms_to_batch(atoms)
