"""Checkers for the exercises of notebook 11 (11_gap.ipynb): the Gaussian approximation potential.

The notebook imports them as ``from minnp.exercises import gap as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``soap_kernel``, ``energy_noise``,
``kernel_distance``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok


def _vectors(seed: int = 3):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 2.0, size=(4, 6)), rng.uniform(0.1, 2.0, size=(3, 6))


def soap_kernel(fn) -> None:
    """Exercise 11.1: k(x, y) = δ² (x̂·ŷ)^ζ for rows x (A, F) and y (B, F) -> (A, B)."""
    x, y = _vectors()
    delta, zeta = 0.7, 3
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)
    expected = delta**2 * (unit(x) @ unit(y).T) ** zeta
    got = answer(fn(x.copy(), y.copy(), delta, zeta))
    if got.shape != expected.shape:
        raise Hint(f"return one kernel value per pair of rows, shape {expected.shape}; got {got.shape}.")
    if close(got, delta**2 * (x @ y.T) ** zeta):
        raise Hint("normalise the vectors first (x / |x|): the SOAP kernel compares the shape of two "
                   "environments, not the size of their power spectra.")
    if close(got, delta * (unit(x) @ unit(y).T) ** zeta):
        raise Hint("δ is the kernel's energy scale, and the kernel is a covariance: multiply by δ², not δ.")
    if not close(got, expected, rtol=1e-8):
        raise Hint("expected δ² (x̂·ŷ)^ζ with x̂ = x/|x|; check the power ζ and the normalisation.")
    ok("the kernel is 1·δ² for identical environments and falls off with ζ as they differ.")


def energy_noise(fn) -> None:
    """Exercise 11.2: gap_fit's sigma_per_atom: the total energy of n atoms has σ = σ_E √n."""
    sigma, counts = 0.002, np.array([1, 8, 64, 96])
    expected = sigma * np.sqrt(counts)
    got = answer([fn(sigma, int(n)) for n in counts])
    if close(got, sigma * counts):
        raise Hint("σ_E · n assumes every atom's error has the same sign; independent per-atom errors add "
                   "in quadrature: σ_E √n.")
    if close(got, np.full(len(counts), sigma)):
        raise Hint("σ_E is per atom: a 64-atom cell's total energy is less certain than a 1-atom one's.")
    if not close(got, expected, rtol=1e-8):
        raise Hint(f"for σ_E = {sigma} eV/atom expected {np.round(expected, 5).tolist()} eV.")
    ok("σ = σ_E √n: the variance of a sum of n independent per-atom errors is n σ_E².")


def kernel_distance(fn) -> None:
    """Exercise 11.3: the distance the kernel induces, d² = k(x,x) + k(y,y) - 2 k(x,y) = 2δ²(1 - (x̂·ŷ)^ζ)."""
    x, y = _vectors(5)
    delta, zeta = 1.3, 4
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)
    c = unit(x) @ unit(y).T
    expected = np.sqrt(2 * delta**2 * (1 - c**zeta))
    got = answer(fn(x.copy(), y.copy(), delta, zeta))
    if got.shape != expected.shape:
        raise Hint(f"return one distance per pair of rows, shape {expected.shape}; got {got.shape}.")
    if close(got, expected**2):
        raise Hint("that is d²; return the distance d itself (a square root).")
    if close(got, np.sqrt(np.maximum(0, ((x[:, None] - y[None]) ** 2).sum(-1)))):
        raise Hint("that is the Euclidean distance of the feature vectors; use the kernel: "
                   "d² = k(x,x) + k(y,y) - 2k(x,y).")
    if not close(got, expected, rtol=1e-8):
        raise Hint("expected √(2δ²(1 - (x̂·ŷ)^ζ)): farthest-point sampling picks sparse points by it.")
    ok("d = 0 for identical environments and at most √2·δ: farthest-point sampling maximises it.")
