"""Checkers for the exercises of notebook 05 (05_soap.ipynb): SOAP.

The notebook imports them as ``from minnp.exercises import soap as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``soap_n_features``,
``soap_power_spectrum_block``, ``soap_kernel``, ``answer``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok


def soap_n_features(fn) -> None:
    """Exercise 05.1: (S n_max)(S n_max + 1)/2 · (l_max + 1) SOAP features without compression."""
    from minnp.descriptors import SOAP

    elements = ["H", "C", "O", "Si"]
    for n_species, n_max, l_max in ((1, 8, 6), (3, 4, 4), (2, 12, 12), (4, 1, 0)):
        expected = SOAP(elements[:n_species], r_cut=5.0, n_max=n_max, l_max=l_max).get_number_of_features()
        got = int(fn(n_species, n_max, l_max))
        size = n_species * n_max
        where = f"for {n_species} species, n_max = {n_max}, l_max = {l_max}"
        if got == expected:
            continue
        if got == size * (size + 1) // 2 * l_max:
            raise Hint(f"{where} you gave {got}: l runs from 0 to l_max, that is l_max + 1 values.")
        if got == size * size * (l_max + 1):
            raise Hint(f"{where} you gave {got}: p[(Z1,n), (Z2,n')] = p[(Z2,n'), (Z1,n)], so each pair "
                       "is stored once: the upper triangle of the (S·n_max) × (S·n_max) matrix, diagonal "
                       "included.")
        if got == size * (size - 1) // 2 * (l_max + 1):
            raise Hint(f"{where} you gave {got}: the diagonal (same element, n = n') is a feature too.")
        if got == n_species * n_max * (n_max + 1) // 2 * (l_max + 1) and n_species > 1:
            raise Hint(f"{where} you gave {got}: that is compression 'crossover' (same-element blocks only); "
                       "without compression the cross-element blocks Z1 ≠ Z2 count too.")
        raise Hint(f"{where} SOAP has {expected} features, you gave {got}. Per l, count the pairs "
                   "(a, b) with a ≤ b of the combined index a = (element, n).")
    ok("(S·n_max)(S·n_max + 1)/2 · (l_max + 1): one symmetric matrix over (element, n) per l.")


def soap_power_spectrum_block(fn) -> None:
    """Exercise 05.2: p_nn' = π √(8/(2l+1)) Σ_m c_nm c_n'm for one l."""
    rng = np.random.default_rng(5)
    for l in (0, 2, 5):
        c = rng.normal(size=(6, 2 * l + 1))
        expected = np.pi * np.sqrt(8 / (2 * l + 1)) * c @ c.T
        got = answer(fn(c.copy(), l))
        if got.shape != expected.shape:
            if got.shape == (2 * l + 1, 2 * l + 1):
                raise Hint(f"for l = {l} you returned shape {got.shape}: sum over m (the columns), "
                           "c @ c.T, not over n.")
            raise Hint(f"for l = {l} the result should be (n_max, n_max) = {expected.shape}, "
                       f"got {got.shape}.")
        if close(got, c @ c.T, rtol=1e-10):
            raise Hint("right shape and structure, but the prefactor π √(8/(2l+1)) is missing.")
        if close(got, np.pi * np.sqrt(8 * (2 * l + 1)) * c @ c.T, rtol=1e-10) and l:
            raise Hint("the prefactor is π √(8/(2l+1)): (2l+1) divides, it does not multiply.")
        if not close(got, expected, rtol=1e-10):
            raise Hint(f"for l = {l} your matrix differs from π √(8/(2l+1)) c cᵀ by up to "
                       f"{np.abs(got - expected).max():.3g}.")
    ok("p_nn'l = π √(8/(2l+1)) Σ_m c_nlm c_n'lm: a Gram matrix, so symmetric and rotation invariant.")


def soap_kernel(fn) -> None:
    """Exercise 05.3: K_ij = (x̂_i · ŷ_j)^ζ between the rows of X and Y."""
    rng = np.random.default_rng(6)
    X, Y = rng.uniform(0.1, 2.0, (4, 10)), rng.uniform(0.1, 2.0, (3, 10))
    X[1] *= 7.0  # rows of very different lengths: only a normalised kernel ignores them
    X_hat = X / np.linalg.norm(X, axis=1, keepdims=True)
    Y_hat = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    for zeta in (1, 2, 4):
        expected = (X_hat @ Y_hat.T) ** zeta
        got = answer(fn(X.copy(), Y.copy(), zeta))
        if got.shape == expected.T.shape and got.shape != expected.shape:
            raise Hint(f"your kernel has shape {got.shape}: rows should follow X, columns Y "
                       f"({expected.shape}).")
        if got.shape != expected.shape:
            raise Hint(f"X (4, F) and Y (3, F) should give a (4, 3) kernel, got {got.shape}.")
        if close(got, (X @ Y.T) ** zeta, rtol=1e-10):
            raise Hint("normalise each feature vector first (divide by its length): then K(A, A) = 1 and the "
                       "kernel compares shapes of environments, not how many neighbours they have.")
        if zeta > 1 and close(got, X_hat @ Y_hat.T, rtol=1e-10):
            raise Hint(f"raise the normalised dot product to the power ζ (ζ = {zeta} here).")
        if not close(got, expected, rtol=1e-10):
            raise Hint(f"for ζ = {zeta} your kernel differs from (x̂·ŷ)^ζ by up to "
                       f"{np.abs(got - expected).max():.3g}.")
    if not close(np.diag(answer(fn(X, X, 3))), 1.0, rtol=1e-10):
        raise Hint("K(x, x) should be 1 for every x.")
    ok("K = (x̂·ŷ)^ζ: 1 for identical environments, sharper with larger ζ.")
