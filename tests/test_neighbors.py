"""minnp.neighbors: the same pairs as ASE's neighbor_list, and differentiable vectors."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list
from conftest import random_cell_structure

from minnp.batch import atoms_to_batch
from minnp.neighbors import neighbor_list, neighbor_triples, sort_pairs


def _canonical(i, j, shift):
    rows = np.c_[i, j, np.asarray(shift).round().astype(int)]
    return rows[np.lexsort(rows.T[::-1])]


def _ase_pairs(atoms, r_cut, offset=0):
    i, j, shift = ase_neighbor_list("ijS", atoms, r_cut)
    return _canonical(i + offset, j + offset, shift)


PBCS = [(True, True, True), (True, True, False), (False, True, False), (False, False, False)]


@pytest.mark.parametrize("pbc", PBCS)
def test_pairs_equal_ase_for_random_triclinic_small_cells(rng, pbc):
    for _ in range(5):
        atoms = random_cell_structure(rng, n_atoms=5, pbc=pbc, scale=3.0)
        nbrs = neighbor_list(atoms_to_batch(atoms), 5.0)  # cutoff larger than the cell
        ours = _canonical(nbrs.i.numpy(), nbrs.j.numpy(), nbrs.shift.numpy())
        np.testing.assert_array_equal(ours, _ase_pairs(atoms, 5.0))


def test_pairs_equal_ase_for_a_mixed_batch(rng):
    structures = [random_cell_structure(rng, 4, pbc) for pbc in PBCS] + [molecule("CH3CH2OH")]
    batch = atoms_to_batch(structures)
    nbrs = neighbor_list(batch, 3.5)
    offsets = np.cumsum([0] + [len(a) for a in structures])
    expected = np.concatenate([_ase_pairs(a, 3.5, o) for a, o in zip(structures, offsets)])
    ours = _canonical(nbrs.i.numpy(), nbrs.j.numpy(), nbrs.shift.numpy())
    np.testing.assert_array_equal(ours, expected[np.lexsort(expected.T[::-1])])
    assert torch.all(batch.structure[nbrs.i] == batch.structure[nbrs.j]), "pairs never cross structures"


def test_sort_pairs_gives_lexsorts_permutation_ties_and_empty_lists_included(rng):
    """The packed-key sort is np.lexsort((j, i)) exactly: repeated pairs (images of one j) keep
    their order. n = 2**31 takes the np.lexsort fallback (keys too wide for int64)."""
    repeated = 0
    for n, n_pairs in [(1, 5), (3, 50), (50, 3000), (7, 0), (2**31, 40)]:
        i, j = rng.integers(0, n, n_pairs), rng.integers(0, n, n_pairs)  # (P,) int64, many ties
        i_given, j_given = i.copy(), j.copy()
        a, b, order = sort_pairs(i, j, n)
        reference = np.lexsort((j, i))
        assert order.shape == reference.shape and (order == reference).all(), (n, n_pairs)
        assert (a == i[reference]).all() and (b == j[reference]).all()
        assert (i == i_given).all() and (j == j_given).all(), "the inputs are left as they were"
        repeated += len(np.unique(np.c_[i, j], axis=0)) < n_pairs
    assert repeated >= 3, "the lists held repeated pairs (the ties this test is about)"


def test_vectors_are_the_minimum_image_distances_in_a_large_cell():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    batch = atoms_to_batch(atoms)
    d = neighbor_list(batch, 2.5).vectors(batch).norm(dim=1)
    np.testing.assert_allclose(d.numpy(), 5.43 * np.sqrt(3) / 4, rtol=1e-12)
    assert len(d) == 8 * 4, "each diamond atom has four nearest neighbours"


def test_single_atom_in_small_cell_sees_its_own_images():
    atoms = Atoms("Cu", positions=[[0, 0, 0]], cell=np.eye(3) * 2.0, pbc=True)
    nbrs = neighbor_list(atoms_to_batch(atoms), 2.1)
    assert len(nbrs) == 6 and torch.all(nbrs.i == 0) and torch.all(nbrs.j == 0)


def test_isolated_molecule_has_no_images():
    nbrs = neighbor_list(atoms_to_batch(molecule("C6H6")), 10.0)
    assert len(nbrs) == 12 * 11 and torch.all(nbrs.shift == 0)


def test_vectors_are_differentiable_in_positions_and_cell(rng):
    batch = atoms_to_batch(random_cell_structure(rng, 4))
    nbrs = neighbor_list(batch, 4.0)
    positions = batch.positions.clone().requires_grad_(True)
    cell = batch.cell.clone().requires_grad_(True)
    d = nbrs.vectors(batch.replace(positions=positions, cell=cell)).norm(dim=1)
    assert torch.autograd.gradcheck(lambda p, c: nbrs.vectors(batch.replace(positions=p, cell=c)).norm(dim=1),
                                    (positions, cell))
    assert d.requires_grad


def test_triples_enumerate_every_ordered_pair_of_neighbours_of_one_centre(rng):
    batch = atoms_to_batch([random_cell_structure(rng, 5), molecule("CH4")])
    nbrs = neighbor_list(batch, 3.0)
    p, q = neighbor_triples(nbrs, len(batch.numbers))
    counts = torch.bincount(nbrs.i, minlength=len(batch.numbers))
    assert len(p) == int((counts * (counts - 1)).sum())
    assert torch.all(nbrs.i[p] == nbrs.i[q]) and torch.all(p != q)
    assert len(set(zip(p.tolist(), q.tolist()))) == len(p), "no duplicates"


def test_non_positive_cutoff_is_rejected():
    with pytest.raises(ValueError, match="cutoff must be positive"):
        neighbor_list(atoms_to_batch(molecule("H2O")), 0.0)


def test_unordered_triples_are_each_triangle_once():
    batch = atoms_to_batch(molecule("CH4"))
    nbrs = neighbor_list(batch, 1.5)  # C sees 4 H; each H sees only C
    p, q = neighbor_triples(nbrs, len(batch.numbers), unordered=True)
    assert len(p) == 4 * 3 // 2 and torch.all(p < q) and torch.all(nbrs.i[p] == nbrs.i[q])


def test_neighbors_module_imports_no_minnp_module_at_run_time():
    """batch.py imports neighbors.py; the reverse import may exist only for type checkers (no cycle)."""
    import ast
    import pathlib

    import minnp.neighbors

    tree = ast.parse(pathlib.Path(minnp.neighbors.__file__).read_text())
    runtime = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    modules = [node.module if isinstance(node, ast.ImportFrom) else node.names[0].name for node in runtime]
    assert not [m for m in modules if m and m.startswith("minnp")], modules


def test_a_search_needing_too_many_periodic_images_fails_fast_with_the_count():
    atoms = Atoms("Cu", positions=[[0, 0, 0]], cell=[[5, 0, 0], [4.9, 0.2, 0], [0, 0, 0.3]], pbc=True)
    with pytest.raises(ValueError, match=r"only 0.2 Å thick.*would need .* periodic images.*larger cell"):
        neighbor_list(atoms_to_batch(atoms), 10.0)
