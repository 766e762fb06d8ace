"""Property tests every atomic descriptor must pass (notebook 03; reused in 04, 05 and the tests).

A descriptor maps a structure to one feature vector per atom, G: Atoms -> (n_atoms, F). For
it to be a sensible input to an energy model, moving the whole structure must not change it:

    translation   G(x + t) = G(x)                       for any vector t
    rotation      G(x Rᵀ, cell Rᵀ) = G(x, cell)          for any rotation R
    permutation   G(x[π])  = G(x)[π]                     rows follow the atoms they describe
    supercell     G(repeat(x))[:n] = G(x)                 periodic structures: the same crystal,
                                                          described with more atoms, gives each
                                                          atom the same features

:func:`invariance_errors` measures all four (relative to the largest feature); and
:func:`check_invariances` asserts them with a message naming what failed. Raw Cartesian
coordinates fail the first two; ACSF and SOAP pass all four to round-off.

A descriptor used for forces also owes its pair Jacobian J_p = ∂G_{i_p}/∂r_p
(:meth:`minnp.descriptors.Descriptor.pair_jacobian`): :func:`pair_jacobian_error` compares it
with central differences of the pair vectors themselves.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from ase import Atoms

Features = Callable[[Atoms], np.ndarray]


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random proper rotation matrix R (3, 3), det R = +1."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))  # a uniform orthogonal matrix
    return q if np.linalg.det(q) > 0 else -q


def translated(atoms: Atoms, shift) -> Atoms:
    """A copy moved rigidly by ``shift`` (Å); the cell stays where it is."""
    moved = atoms.copy()
    moved.positions = atoms.positions + np.asarray(shift, dtype=float)
    return moved


def rotated(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    """A copy with positions and cell vectors rotated by ``rotation`` (3, 3)."""
    turned = atoms.copy()
    turned.positions = atoms.positions @ rotation.T
    turned.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    return turned


def permuted(atoms: Atoms, order) -> Atoms:
    """A copy with the atoms listed in ``order`` (atom k of the copy is atom order[k])."""
    return atoms[np.asarray(order)]


def invariance_errors(features: Features, atoms: Atoms, seed: int = 0) -> dict[str, float]:
    """max |change| / max |G| under translation, rotation, permutation, and, when every axis of
    ``atoms`` is periodic, a doubled supercell (for a descriptor that uses the periodicity)."""
    rng = np.random.default_rng(seed)
    reference = np.asarray(features(atoms), dtype=float)  # (n_atoms, F)
    scale = max(np.abs(reference).max(), 1e-300)
    order = rng.permutation(len(atoms))
    changed = {
        "translation": features(translated(atoms, rng.normal(0, 3.0, 3))),
        "rotation": features(rotated(atoms, random_rotation(rng))),
        "permutation": np.asarray(features(permuted(atoms, order)))[np.argsort(order)],
    }
    if atoms.pbc.all():
        changed["supercell"] = np.asarray(features(atoms.repeat((2, 1, 1))))[:len(atoms)]
    return {name: float(np.abs(np.asarray(g, dtype=float) - reference).max() / scale)
            for name, g in changed.items()}


def check_invariances(features: Features, atoms: Atoms, tol: float = 1e-10,
                      seed: int = 0) -> dict[str, float]:
    """Assert every property of :func:`invariance_errors` to ``tol``; return the errors."""
    errors = invariance_errors(features, atoms, seed)
    failed = {name: e for name, e in errors.items() if not e <= tol}
    if failed:
        report = ", ".join(f"{name} (relative change {e:.2g})" for name, e in failed.items())
        raise AssertionError(f"the descriptor is not invariant under {report}; tolerance {tol:g}")
    return errors


def pair_jacobian_error(descriptor, batch, pairs, h: float = 1e-6) -> float:
    """max |J_p - central difference| / max |J| over the x, y, z of the neighbour pairs ``pairs``.

    Moving one pair vector r_p by ±h changes only its centre's features, G_{i_p}.
    """
    _, nbrs, J = descriptor.pair_jacobian(batch)  # (P, F, 3)
    r_vec = nbrs.vectors(batch).detach()  # (P, 3)
    worst = 0.0
    for p in pairs:
        for a in range(3):
            step = torch.zeros_like(r_vec)
            step[p, a] = h
            with torch.no_grad():
                plus = descriptor.features(batch, nbrs, r_vec + step)[nbrs.i[p]]
                minus = descriptor.features(batch, nbrs, r_vec - step)[nbrs.i[p]]
            worst = max(worst, float(((plus - minus) / (2 * h) - J[p, :, a]).abs().max()))
    return worst / max(float(J.abs().max()), 1e-300)
