"""Checkers for the exercises of notebook 03 (03_invariance.ipynb): invariance.

The notebook imports them as ``from minnp.exercises import invariance as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``sorted_distances``,
``is_translation_invariant``, ``smooth_coordination``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, close, ok


def random_clusters(seed: int, sizes=(3, 5, 8)):
    from ase import Atoms

    rng = np.random.default_rng(seed)
    return [Atoms(f"Ar{n}", positions=rng.normal(0, 2.0, (n, 3))) for n in sizes]


def sorted_distances(fn) -> None:
    """Exercise 03.1: all n(n-1)/2 interatomic distances of a cluster, sorted ascending."""
    for atoms in random_clusters(3):
        n = len(atoms)
        d = atoms.get_all_distances()
        expected = np.sort(d[np.triu_indices(n, 1)])
        got = np.asarray(fn(atoms), dtype=float).ravel()
        if got.size == n * n:
            raise Hint(f"for {n} atoms you returned {n * n} numbers: that is the whole distance matrix, with "
                       "the zero self-distances and every pair twice. Keep each pair i < j once.")
        if got.size == n * (n - 1):
            raise Hint(f"for {n} atoms you returned {n * (n - 1)} distances: each pair appears twice "
                       "(i-j and j-i). Keep i < j only, e.g. with np.triu_indices(n, 1).")
        if got.size != expected.size:
            raise Hint(f"for {n} atoms expected {expected.size} distances (n(n-1)/2), got {got.size}.")
        if close(np.sort(got), expected) and not close(got, expected):
            raise Hint("right distances, but not sorted: without sorting, swapping two atoms changes the "
                       "vector, so it is not permutation invariant. Sort them.")
        if not close(got, expected, rtol=1e-10):
            raise Hint(f"the distances of a {n}-atom test cluster differ from the expected ones by up to "
                       f"{np.abs(got - expected).max():.3g} Å.")
    ok("sorted pair distances: invariant under translation, rotation and permutation, but their number "
       "grows as n², and they do not tell you which atom has which environment.")


def is_translation_invariant(fn) -> None:
    """Exercise 03.2: a property test must pass an invariant descriptor and FAIL a non-invariant one."""
    from ase.build import molecule

    atoms = molecule("CH3CH2OH")

    def distances_to_others(a):  # invariant
        return np.sort(a.get_all_distances(), axis=1)

    def raw_positions(a):  # not invariant
        return a.positions.copy()

    def y_and_z(a):  # invariant for shifts along x only
        return a.positions[:, 1:].copy()

    def first_atom_x_offset(a):  # invariant for diagonal shifts only: uses x - y
        return (a.positions[:, 0] - a.positions[:, 1])[:, None]

    if fn(distances_to_others, atoms) is not True:
        raise Hint("your test rejects sorted interatomic distances, which ARE translation invariant. "
                   "Compare features before and after the shift with np.allclose, not exact equality.")
    if fn(raw_positions, atoms) is not False:
        raise Hint("your test accepts the raw positions, which change when the molecule moves: a test that "
                   "cannot fail proves nothing. Return False when the features change.")
    if fn(y_and_z, atoms) is not False or fn(first_atom_x_offset, atoms) is not False:
        raise Hint("your test passes a descriptor that is invariant only for some directions of the shift. "
                   "Shift along a general direction, e.g. a random vector, not along one axis or the diagonal.")
    ok("your property test accepts an invariant descriptor and rejects three non-invariant ones.")


def smooth_coordination(fn) -> None:
    """Exercise 03.3: per-atom smooth coordination Σ_j f_c(r_ij), the ACSF G1."""
    from minnp.descriptors import ACSF

    for atoms in random_clusters(4, sizes=(4, 9)):
        for r_cut in (3.0, 4.5):
            expected = ACSF(species=["Ar"], r_cut=r_cut).create(atoms)[:, 0]
            got = np.asarray(fn(atoms, r_cut), dtype=float).ravel()
            if got.shape != expected.shape:
                raise Hint(f"return one number per atom: expected shape {expected.shape}, got {got.shape}.")
            d = atoms.get_all_distances()
            hard = ((d < r_cut) & (d > 0)).sum(axis=1)
            if close(got, hard):
                raise Hint("that is the plain neighbour count: it jumps by 1 when an atom crosses r_cut. "
                           "Weigh each neighbour with f_c(r) = ½(cos(π r / r_cut) + 1).")
            if close(got, expected + 1):
                raise Hint("every value is 1 too large: the atom itself (r = 0, f_c = 1) is not its own neighbour.")
            if not close(got, expected, rtol=1e-8):
                raise Hint(f"for r_cut = {r_cut} Å expected {np.round(expected, 4).tolist()}, got "
                           f"{np.round(got, 4).tolist()}. Count pairs with 0 < r < r_cut only.")
    ok("Σ_j f_c(r_ij) is smooth and invariant: it is exactly ACSF's G1 (notebook 04).")
