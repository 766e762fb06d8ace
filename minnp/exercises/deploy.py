"""Checkers for the exercises of notebook 15 (15_deploy.ipynb): a potential in LAMMPS.

The notebook imports them as ``from minnp.exercises import deploy as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``lammps_stress``, ``forces_back``,
``mliap_parameter_count``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok

NKTV2P_METAL = 1.6021765e6  # bar per eV/Å³ (LAMMPS, units metal)


def _stress(p):
    xx, yy, zz, xy, xz, yz = p
    return -np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]) / NKTV2P_METAL


def lammps_stress(fn) -> None:
    """Exercise 15.1: LAMMPS' virial pressure (xx, yy, zz, xy, xz, yz), bar -> ASE stress (3, 3), eV/Å³."""
    p = np.array([12000.0, -3000.0, 500.0, 250.0, -700.0, 40.0])
    got = answer(fn(p))
    if got.shape != (3, 3):
        raise Hint(f"return the full symmetric 3x3 tensor, got shape {got.shape}.")
    expected = _stress(p)
    if close(got, -expected):
        raise Hint("the sign: a compressed crystal has positive pressure but negative stress in ASE "
                   "(σ = -P).")
    if close(got, expected * NKTV2P_METAL / 1e4) or close(got, -expected * NKTV2P_METAL / 1e4):
        raise Hint("bar to eV/Å³ is not 1e-4: 1 eV/Å³ = 1.6021765e6 bar (LAMMPS' nktv2p in metal units).")
    if close(got[[0, 0, 1], [1, 2, 2]], expected[[1, 0, 0], [2, 2, 1]]) and not close(got, expected):
        raise Hint("LAMMPS orders the off-diagonal components xy, xz, yz (not Voigt's yz, xz, xy).")
    if not close(got, expected, rtol=1e-9):
        raise Hint(f"expected σ = -P / 1.6021765e6 with P from (xx, yy, zz, xy, xz, yz); off by up to "
                   f"{np.abs(got - expected).max():.3g} eV/Å³.")
    ok("σ = -P_virial / nktv2p: 1 GPa = 10 kbar = 0.00624 eV/Å³.")


def forces_back(fn) -> None:
    """Exercise 15.2: forces from LAMMPS' rotated frame (x' = x R) back to the structure's frame."""
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.linalg.det(q))
    forces_lammps = rng.normal(size=(5, 3))
    got = answer(fn(forces_lammps, rotation))
    expected = forces_lammps @ rotation.T
    if got.shape != expected.shape:
        raise Hint(f"return one force per atom, shape {expected.shape}; got {got.shape}.")
    if close(got, forces_lammps @ rotation):
        raise Hint("that rotates once more instead of back: the inverse of an orthogonal R is Rᵀ, "
                   "so F = F' Rᵀ.")
    if close(got, forces_lammps):
        raise Hint("forces are vectors: they turn with the cell. Rotate them back with Rᵀ.")
    if not close(got, expected, rtol=1e-9):
        raise Hint("expected F = F' Rᵀ (row vectors), the inverse of x' = x R.")
    ok("F = F' Rᵀ: energies do not care about the frame, forces and stress turn with it.")


def mliap_parameter_count(fn) -> None:
    """Exercise 15.3: the ``nparams`` of an ``mliap model nn`` file for K inputs and hidden widths."""
    for k, hidden in [(30, (16, 16)), (14, (8,)), (55, (32, 16, 8))]:
        widths = [k, *hidden, 1]
        expected = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
        got = fn(k, hidden)
        if got == sum(a * b for a, b in zip(widths[:-1], widths[1:])):
            raise Hint("every node also has a bias: (n_in + 1) numbers per node.")
        if got == expected + 2 * k:
            raise Hint("nparams counts the network only; the 2K scaling numbers (means, deviations) "
                       "come on their own lines.")
        if got != expected:
            raise Hint(f"for K = {k}, hidden = {hidden} the file says nparams = {expected}, you have {got}.")
    ok("Σ (n_in + 1) n_out over the layers, with the output layer of width 1.")
