"""Checkers for the course's exercises: specific, friendly feedback instead of a bare assert.

A checker takes the learner's answer (a value or a function), prints a short confirmation when it
is right, and raises :class:`Hint` with what is wrong and a nudge towards the fix when it is not.
Notebooks use them as ``import minnp.exercises as check`` then ``check.lj_minimum(fn)``.
Each notebook's checkers have their own section below; ``tests/test_exercises.py`` proves every
checker accepts the reference solution and rejects a typical wrong answer.
"""

from __future__ import annotations

import numpy as np


class Hint(AssertionError):
    """An answer that is not right yet; the message says why. Shown without a traceback in Jupyter."""

    def _render_traceback_(self):  # IPython shows this instead of the traceback
        return [f"\u2718 Not yet: {self}"]


def ok(message: str) -> None:
    print(f"\u2714 {message}")


def _close(value, expected, rtol=1e-6, atol=0.0) -> bool:
    return bool(np.allclose(np.asarray(value, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=atol))


# ---------------------------------------------------------------------------------------------
# 00 welcome
# ---------------------------------------------------------------------------------------------

def lj_minimum(fn) -> None:
    """Exercise 00.1: the Lennard-Jones minimum r_min = 2^(1/6) σ."""
    for sigma in (1.0, 3.4):
        r = float(fn(sigma))
        expected = 2 ** (1 / 6) * sigma
        if _close(r, sigma):
            raise Hint(f"for σ = {sigma} you returned σ itself: that is where u(r) = 0, not its minimum. "
                       "Set du/dr = 0 and solve for r.")
        if _close(r, expected * 2 ** (1 / 6)) or _close(r, 2 ** (1 / 3) * sigma):
            raise Hint(f"for σ = {sigma} you returned 2^(1/3) σ; check the exponent: (σ/r)^6 = 1/2.")
        if not _close(r, expected):
            raise Hint(f"for σ = {sigma} you returned {r:.4f} Å, expected {expected:.4f} Å. "
                       "Hint: du/dr = 0 gives (σ/r)^6 = 1/2.")
    ok("r_min = 2^(1/6) σ ≈ 1.1225 σ.")


def kinetic_temperature(fn) -> None:
    """Exercise 00.2: T = 2 E_kin / (3 N k_B) for N atoms with no constraints."""
    from ase.units import kB

    rng = np.random.default_rng(0)
    masses = rng.uniform(1, 60, 20)
    momenta = rng.normal(0, 1, (20, 3))
    e_kin = 0.5 * np.sum(momenta**2 / masses[:, None])
    expected = 2 * e_kin / (3 * 20 * kB)
    got = float(fn(masses, momenta))
    if _close(got, expected / 2):
        raise Hint("your temperature is half the expected one: E_kin = Σ p²/2m, and T = 2 E_kin / (3 N k_B).")
    if _close(got, 2 * e_kin / (3 * 20)):
        raise Hint("you forgot Boltzmann's constant: divide by ase.units.kB (eV/K) to get kelvin.")
    if not _close(got, expected):
        raise Hint(f"expected {expected:.2f} K for the test system, got {got:.2f} K; check E_kin = Σ p²/(2m).")
    ok(f"T = 2 E_kin / (3 N k_B) = {expected:.1f} K for the test system.")


