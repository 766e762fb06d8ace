"""Checkers for the exercises of notebook 00 (00_welcome.ipynb): welcome.

The notebook imports them as ``from minnp.exercises import welcome as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``lj_minimum``, ``kinetic_temperature``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, close, ok


def lj_minimum(fn) -> None:
    """Exercise 00.1: the Lennard-Jones minimum r_min = 2^(1/6) σ."""
    for sigma in (1.0, 3.4):
        r = float(fn(sigma))
        expected = 2 ** (1 / 6) * sigma
        if close(r, sigma):
            raise Hint(f"for σ = {sigma} you returned σ itself: that is where u(r) = 0, not its minimum. "
                       "Set du/dr = 0 and solve for r.")
        if close(r, expected * 2 ** (1 / 6)) or close(r, 2 ** (1 / 3) * sigma):
            raise Hint(f"for σ = {sigma} you returned 2^(1/3) σ; check the exponent: (σ/r)^6 = 1/2.")
        if not close(r, expected):
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
    if close(got, expected / 2):
        raise Hint("your temperature is half the expected one: E_kin = Σ p²/2m, and T = 2 E_kin / (3 N k_B).")
    if close(got, 2 * e_kin / (3 * 20)):
        raise Hint("you forgot Boltzmann's constant: divide by ase.units.kB (eV/K) to get kelvin.")
    if not close(got, expected):
        raise Hint(f"expected {expected:.2f} K for the test system, got {got:.2f} K; check E_kin = Σ p²/(2m).")
    ok(f"T = 2 E_kin / (3 N k_B) = {expected:.1f} K for the test system.")
