"""Checkers for the exercises of notebook 02 (02_tersoff.ipynb): Tersoff's bond order.

The notebook imports them as ``from minnp.exercises import tersoff as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``tersoff_angular``, ``tersoff_bond_order``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, close, ok


def tersoff_angular(fn) -> None:
    """Exercise 02.1: g(θ) = γ (1 + c²/d² - c² / (d² + (cos θ - h)²))."""
    cos = np.linspace(-1, 1, 21)
    for gamma, c, d, h in [(1.0, 1.0039e5, 16.217, -0.59825), (0.114, 19.98, 7.034, -0.33)]:
        expected = gamma * (1 + c**2 / d**2 - c**2 / (d**2 + (cos - h) ** 2))
        got = np.asarray(fn(cos, gamma, c, d, h), dtype=float)
        if got.shape != cos.shape:
            raise Hint(f"return one value per cos θ: expected shape {cos.shape}, got {got.shape}.")
        if close(got, gamma * (1 + c**2 / d**2 - c**2 / (d**2 + (cos + h) ** 2))):
            raise Hint("the sign of h: the minimum of g sits at cos θ = h, so the term is (cos θ - h)².")
        if gamma != 1 and close(got, 1 + c**2 / d**2 - c**2 / (d**2 + (cos - h) ** 2)):
            raise Hint("γ multiplies the whole expression (it is 1 for Tersoff's own sets, not for Albe's).")
        if not close(got, expected):
            raise Hint(f"for γ={gamma}, c={c}, d={d}, h={h} your g differs from γ(1 + c²/d² - c²/(d² + (cos θ - h)²)) "
                       f"by up to {np.abs(got - expected).max():.3g}.")
    ok("g(θ) is smallest at cos θ = h and grows towards θ = 0°: it penalises crowded bonds.")


def tersoff_bond_order(fn) -> None:
    """Exercise 02.2: b = (1 + (β ζ)^n)^(-1/(2n))."""
    zeta = np.array([0.3, 1.0, 2.0, 3.0, 6.0])
    for beta, n in [(1.0999e-6, 0.78734), (0.33675, 22.956)]:
        expected = (1 + (beta * zeta) ** n) ** (-1 / (2 * n))
        got = np.asarray(fn(zeta, beta, n), dtype=float)
        if close(got, (1 + (beta * zeta) ** n) ** (-1 / n)):
            raise Hint("the exponent is -1/(2n), not -1/n: for large ζ, b → (βζ)^(-1/2), Pauling's 1/√z.")
        if close(got, (1 + beta * zeta**n) ** (-1 / (2 * n))):
            raise Hint("β is raised to the power n too: (1 + β^n ζ^n).")
        if not close(got, expected):
            raise Hint(f"for β={beta}, n={n} expected b = {np.round(expected, 6).tolist()}, got {np.round(got, 6).tolist()}.")
    ok("b_ij = (1 + (βζ)^n)^(-1/2n): 1 for an isolated bond, ~ζ^(-1/2) for many neighbours.")
