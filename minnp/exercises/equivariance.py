"""Checkers for the exercises of notebook 14 (14_equivariance.ipynb): equivariant message passing.

The notebook imports them as ``from minnp.exercises import equivariance as check``; each takes
the learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what
is wrong and how to fix it when it is not. Checkers: ``coupled_orders``, ``bond_vector_sum``,
``tensor_product_paths``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok


def coupled_orders(fn) -> None:
    """Exercise 14.1: l1 ⊗ l2 gives every l3 from |l1 - l2| to l1 + l2 (the triangle rule)."""
    for l1, l2 in ((0, 0), (1, 1), (1, 2), (2, 2), (3, 1), (0, 2)):
        got = fn(l1, l2)
        try:
            got = sorted(int(l) for l in got)
        except TypeError:
            raise Hint(f"return a list of orders l3, e.g. [0, 1, 2] for l1 = l2 = 1; got {got!r}") from None
        expected = list(range(abs(l1 - l2), l1 + l2 + 1))
        if got == list(range(l1 + l2 + 1)) and got != expected:
            raise Hint(f"for l1 = {l1}, l2 = {l2} you start at 0: the smallest order is |l1 - l2| = {abs(l1 - l2)} "
                       "(a vector times a rank-2 tensor cannot give a scalar).")
        if got != expected:
            raise Hint(f"for l1 = {l1}, l2 = {l2}: expected {expected}, got {got}. Every l3 with |l1 - l2| ≤ l3 ≤ "
                       "l1 + l2 appears once.")
        dimension = sum(2 * l + 1 for l in got)
        assert dimension == (2 * l1 + 1) * (2 * l2 + 1)
    ok("the triangle rule: (2l1+1)(2l2+1) components split into l3 = |l1-l2| ... l1+l2, nothing lost "
       "(1 ⊗ 1 = 0 ⊕ 1 ⊕ 2: dot product, cross product, traceless symmetric part).")


def _vector_sum(r_ij, i, n_atoms):
    unit = r_ij / np.linalg.norm(r_ij, axis=1, keepdims=True)
    out = np.zeros((n_atoms, 3))
    np.add.at(out, i, unit)
    return out


def bond_vector_sum(fn) -> None:
    """Exercise 14.2: v_i = Σ_j r̂_ij, the simplest l = 1 feature, and it rotates with R."""
    rng = np.random.default_rng(14)
    n_atoms = 5
    i = np.array([0, 0, 1, 1, 2, 3, 3, 4])
    r_ij = rng.normal(size=(len(i), 3)) * rng.uniform(0.5, 2.0, (len(i), 1))
    expected = _vector_sum(r_ij, i, n_atoms)
    got = answer(fn(r_ij, i, n_atoms))
    if got.shape != (n_atoms, 3):
        raise Hint(f"return one vector per atom, shape ({n_atoms}, 3); got {got.shape}. Sum the pairs into their "
                   "centre atom i (np.add.at or torch.index_add).")
    unnormalised = np.zeros((n_atoms, 3))
    np.add.at(unnormalised, i, r_ij)
    if close(got, unnormalised, rtol=1e-8):
        raise Hint("you summed the bond vectors r_ij themselves; use the unit vectors r̂_ij = r_ij / |r_ij| "
                   "(the direction only, as the spherical harmonics Y¹ do).")
    if not close(got, expected, rtol=1e-8, atol=1e-12):
        raise Hint(f"atom 0 should get {np.round(expected[0], 4).tolist()}, got {np.round(got[0], 4).tolist()}: "
                   "sum r̂_ij over the pairs whose centre is atom i.")
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotated = answer(fn(r_ij @ q.T, i, n_atoms))
    if not close(rotated, got @ q.T, atol=1e-10):
        raise Hint("rotating the bonds should rotate your vectors by the same matrix: v(R r) = R v(r).")
    ok("v_i = Σ_j r̂_ij rotates with the structure (l = 1) and is zero for a symmetric neighbourhood "
       "(the linear CH2 of this notebook), non-zero for a bent one.")


def tensor_product_paths(fn) -> None:
    """Exercise 14.3: paths (l1, l2) -> l3 of a hidden layer, features and bond harmonics up to l_max."""
    from minnp.models.equivariant import EquivariantFeatures

    for l_max in (0, 1, 2, 3):
        try:
            got = int(fn(l_max))
        except (TypeError, ValueError):
            raise Hint(f"return the number of paths as an integer; got {fn(l_max)!r}") from None
        net = EquivariantFeatures(["H"], n_features=1, l_max=l_max, n_interactions=3, radial_hidden=1, n_basis=1)
        expected = len(net.interactions[1].tensor_product.instructions)  # hidden -> hidden, one channel
        all_parities = sum(1 for l1 in range(l_max + 1) for l2 in range(l_max + 1)
                           for l3 in range(abs(l1 - l2), min(l1 + l2, l_max) + 1))
        unbounded = sum(1 for l1 in range(l_max + 1) for l2 in range(l_max + 1)
                        for l3 in range(abs(l1 - l2), l1 + l2 + 1) if (l1 + l2 + l3) % 2 == 0)
        if got == all_parities and got != expected:
            raise Hint(f"for l_max = {l_max} you counted every l3 of the triangle rule; the features keep only the "
                       "parity (-1)^l3 of a polar tensor: l1 + l2 + l3 must be even (1 ⊗ 1 -> 1 is a cross product, "
                       "a pseudovector, and is dropped).")
        if got == unbounded and got != expected:
            raise Hint(f"for l_max = {l_max} you counted outputs l3 above l_max; the layer keeps only l3 ≤ l_max.")
        if got != expected:
            raise Hint(f"for l_max = {l_max}: expected {expected} paths, got {got}. Count (l1, l2, l3) with l1, l2, "
                       "l3 ≤ l_max, |l1 - l2| ≤ l3 ≤ l1 + l2 and l1 + l2 + l3 even.")
    ok("the paths grow fast with l_max (1, 4, 11, 23 for l_max = 0..3): that is where the cost of l = 2 and 3 "
       "comes from.")
