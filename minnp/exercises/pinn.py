"""Checkers for the exercises of notebook 12 (12_pinn.ipynb): the physically informed neural network.

The notebook imports them as ``from minnp.exercises import pinn as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``largest_factor``, ``parameter_shifts``,
``most_moved``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from minnp.exercises.feedback import Hint, answer, close, ok


def largest_factor(fn) -> None:
    """Exercise 12.1: with corrections u = u_base + δ tanh(y) and p = e^u, p / p_base lies in [e^-δ, e^δ]."""
    for bound in (0.5, 0.2, 1.3):
        got = answer(fn(bound)).ravel()
        expected = np.array([math.exp(-bound), math.exp(bound)])
        if got.shape != (2,):
            raise Hint("return two numbers, the smallest and the largest factor p / p_base; "
                       f"got shape {got.shape}.")
        if close(got, [1 - bound, 1 + bound]):
            raise Hint("the correction is added to u = log p, not to p: the factor is e^(±δ), not 1 ± δ.")
        if close(got, [-bound, bound]):
            raise Hint("these are the limits of u - u_base; p / p_base = e^(u - u_base).")
        if not close(got, expected, rtol=1e-9):
            raise Hint(f"for δ = {bound} expected [{expected[0]:.4f}, {expected[1]:.4f}], "
                       f"got {np.round(got, 4).tolist()}.")
    ok("p / p_base ∈ [e^-δ, e^δ]: whatever the network outputs, A, B, λ1, λ2 stay positive and bounded.")


def reference_shifts(model, structures) -> np.ndarray:
    """|u - u_base| (n_atoms, k) of every atom of ``structures``: how far the networks moved each parameter."""
    from minnp.batch import atoms_to_batch
    from minnp.potentials.fittable_tersoff import to_unbounded

    with torch.no_grad():
        batch = atoms_to_batch(structures, device=model.base.device, dtype=model.base.dtype)
        p = model.parameters_per_atom(model.descriptor(batch), model.descriptor.species_index(batch))
        u = to_unbounded(model.varied, p[:, model.columns])  # (N, k)
        return (u - model.base_free).abs().cpu().numpy()


def parameter_shifts(fn, model, structures) -> None:
    """Exercise 12.2: |u_i - u_base| per atom and varied parameter, (n_atoms, k)."""
    expected = reference_shifts(model, structures)
    got = answer(fn(model, structures))
    if got.shape != expected.shape:
        raise Hint(f"return one row per atom and one column per varied parameter, shape {expected.shape}; "
                   f"got {got.shape}.")
    if (got < 0).any():
        raise Hint("take the absolute value |u - u_base|: we ask how far, not in which direction.")
    if not close(got, expected, rtol=1e-6, atol=1e-12):
        raise Hint(f"the shifts differ from the reference (largest difference {np.abs(got - expected).max():.3g}): "
                   "compare u = log p (atanh for costheta0), not p itself, with model.base_free. Use "
                   "model.parameters_per_atom and minnp.potentials.fittable_tersoff.to_unbounded.")
    ok(f"mean shifts {dict(zip(model.varied, np.round(expected.mean(axis=0), 3)))}")


def most_moved(name, model, structures) -> None:
    """Exercise 12.3: the varied parameter whose mean |u - u_base| is largest."""
    shifts = reference_shifts(model, structures).mean(axis=0)  # (k,)
    expected = model.varied[int(np.argmax(shifts))]
    if name not in model.varied:
        raise Hint(f"{name!r} is not a varied parameter; choose one of {model.varied}.")
    if name != expected:
        raise Hint(f"{name!r} moves by {shifts[model.varied.index(name)]:.3f} on average; another parameter moves "
                   f"more (largest mean shift {shifts.max():.3f}).")
    ok(f"{expected}: mean |Δu| = {shifts.max():.3f} (e^Δu = {math.exp(shifts.max()):.3f} times its base value).")
