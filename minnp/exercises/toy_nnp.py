"""Checkers for the exercises of notebook 06 (06_toy_nnp.ipynb): the toy NNP.

The notebook imports them as ``from minnp.exercises import toy_nnp as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``standardize``, ``seeded_split``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok


def standardize(fn) -> None:
    """Exercise 06.1: scale features with the mean and std of the training atoms; constant features keep scale 1."""
    rng = np.random.default_rng(6)
    X_train = rng.normal(3.0, 2.0, (20, 8, 4))
    X_train[..., 3] = 1.5  # a feature that never varies in training
    X = rng.normal(3.5, 2.5, (6, 8, 4))
    X[..., 3] = 2.0
    atoms = X_train.reshape(-1, 4)
    mean, std = atoms.mean(axis=0), atoms.std(axis=0)
    expected = (X - mean) / np.where(std > 0, std, 1.0)
    got = answer(fn(X_train.copy(), X.copy()))
    if got.shape != expected.shape:
        raise Hint(f"return the scaled X with its shape {expected.shape}, got {got.shape}.")
    if not np.isfinite(got).all():
        raise Hint("NaN or inf: a feature that is constant in training has standard deviation 0. "
                   "Give it a scale of 1 (np.where(std > 0, std, 1.0)).")
    own = X[..., :3].reshape(-1, 3)  # the varying features
    if close(got[..., :3], (X[..., :3] - own.mean(axis=0)) / own.std(axis=0)):
        raise Hint("you scaled X with its own statistics: the mean and std must come from X_train only, or "
                   "the validation and test sets leak into the model.")
    cells = X_train[..., :3].mean(axis=1)  # (cells, 3) per-cell means
    if close(got[..., :3], (X[..., :3] - cells.mean(axis=0)) / cells.std(axis=0)):
        raise Hint("those are statistics of the per-cell means; the network sees single atoms, so take the "
                   "mean and std over all training atoms: X_train.reshape(-1, F).")
    if close(got[..., :3], expected[..., :3]) and not close(got[..., 3], expected[..., 3]):
        raise Hint(f"the constant feature should become (2.0 - 1.5) / 1 = 0.5, got {got[0, 0, 3]:.3g}: "
                   "use a scale of 1, not 0 or a tiny number.")
    if not close(got, expected, rtol=1e-8, atol=1e-10):
        raise Hint("not (X - mean) / std with the mean and (population) std of every atom in X_train, per feature.")
    ok("features scaled with training statistics only; a constant feature stays finite.")


def seeded_split(fn) -> None:
    """Exercise 06.2: disjoint, complete, shuffled, reproducible index parts."""
    for n, fractions in [(100, (0.7, 0.15, 0.15)), (37, (0.8, 0.2))]:
        parts = [np.asarray(p) for p in fn(n, fractions, 0)]
        if len(parts) != len(fractions):
            raise Hint(f"{len(fractions)} fractions should give {len(fractions)} parts, got {len(parts)}.")
        together = np.concatenate(parts)
        if len(np.unique(together)) < len(together):
            raise Hint("an index appears in two parts: that is exactly the leak we are avoiding. "
                       "Cut one shuffled order into consecutive pieces.")
        if sorted(together.tolist()) != list(range(n)):
            raise Hint(f"the parts must together hold every index 0..{n - 1} exactly once.")
        for part, fraction in zip(parts, fractions):
            if abs(len(part) - fraction * n) > 1:
                raise Hint(f"n = {n}, fractions {fractions}: part sizes {[len(p) for p in parts]}, "
                           f"expected about {[round(f * n) for f in fractions]}.")
        if np.array_equal(together, np.arange(n)):
            raise Hint("the indices are not shuffled: consecutive MD frames would all land in one part.")
        again = [np.asarray(p) for p in fn(n, fractions, 0)]
        if not all(np.array_equal(a, b) for a, b in zip(parts, again)):
            raise Hint("the same seed gave another split: draw from np.random.default_rng(seed), not np.random.")
        other = [np.asarray(p) for p in fn(n, fractions, 1)]
        if all(np.array_equal(a, b) for a, b in zip(parts, other)):
            raise Hint("seeds 0 and 1 gave the same split: is the seed used?")
    ok("disjoint, complete, shuffled and reproducible: every number you report can be regenerated.")
