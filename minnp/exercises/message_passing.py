"""Checkers for the exercises of notebook 13 (13_message_passing.ipynb): message passing and charge transfer.

The notebook imports them as ``from minnp.exercises import message_passing as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``layers_needed``, ``aggregate_messages``,
``charge_state_gap``.
"""

from __future__ import annotations

import math

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok
from minnp.exercises.fourth_generation import charge_state_gap  # 13.3 asks 10.3's question of a GNN


def layers_needed(fn) -> None:
    """Exercise 13.1: the fewest layers T with T · r_cut > d: floor(d / r_cut) + 1."""
    cases = [(11.7, 4.5), (9.0, 4.5), (3.0, 4.5), (12.9, 6.0), (0.5, 5.0)]
    for d, r_cut in cases:
        expected = math.floor(d / r_cut) + 1
        got = fn(d, r_cut)
        if not isinstance(got, (int, np.integer)) and not float(got).is_integer():
            raise Hint(f"a number of layers is a whole number; for d = {d} Å, r_cut = {r_cut} Å you returned {got}.")
        got = int(got)
        if got == expected:
            continue
        if got == math.ceil(d / r_cut) and got != expected:
            raise Hint(f"for d = {d} Å = exactly {d / r_cut:g} cutoffs you returned {got}: a neighbour exactly at "
                       "r_cut has f_c = 0 and sends nothing, so T·r_cut must be strictly larger than d.")
        if got == expected - 1:
            raise Hint(f"one layer short for d = {d} Å, r_cut = {r_cut} Å: after T layers an atom has heard from "
                       "atoms less than T·r_cut away, so T must satisfy T·r_cut > d.")
        raise Hint(f"for d = {d} Å, r_cut = {r_cut} Å expected {expected} layers, got {got}.")
    ok("three layers of 4.5 Å reach 13.5 Å: just enough for the proton at the far end of C10H3+ (about 12 Å).")


def aggregate_messages(fn) -> None:
    """Exercise 13.2: m_i = Σ_{pairs p with i_p = i} W_p ⊙ x_{j_p}."""
    import torch

    rng = np.random.default_rng(13)
    n_atoms, n_features, n_pairs = 5, 4, 12
    x = torch.tensor(rng.normal(size=(n_atoms, n_features)))
    W = torch.tensor(rng.normal(size=(n_pairs, n_features)))
    i = torch.tensor(rng.integers(0, n_atoms - 1, n_pairs))  # atom 4 receives no message
    j = torch.tensor((i.numpy() + rng.integers(1, n_atoms, n_pairs)) % n_atoms)
    expected = torch.zeros(n_atoms, n_features, dtype=x.dtype).index_add_(0, i, W * x[j]).numpy()
    got = answer(fn(x.clone(), i.clone(), j.clone(), W.clone()))
    if got.shape != expected.shape:
        raise Hint(f"return one message per atom, shape {expected.shape} (n_atoms, n_features), got {got.shape}.")
    wrong_end = torch.zeros_like(x).index_add_(0, i, W * x[i]).numpy()
    if close(got, wrong_end):
        raise Hint("you multiplied by the features of the receiving atom i; the message carries what the "
                   "NEIGHBOUR j knows: W_p * x[j].")
    swapped = torch.zeros_like(x).index_add_(0, j, W * x[i]).numpy()
    if close(got, swapped):
        raise Hint("the messages went the wrong way: sum them into atom i (index_add_ over i) with x[j] as content.")
    counts = np.bincount(i.numpy(), minlength=n_atoms)[:, None]
    if close(got * np.maximum(counts, 1), expected) and not close(got, expected):
        raise Hint("that is the mean of the messages; SchNet sums them (index_add_), so more neighbours mean more signal.")
    if not close(got, expected, rtol=1e-10, atol=1e-12):
        raise Hint("not the sum of W_p * x[j_p] over each atom's pairs: try "
                   "torch.zeros_like(x).index_add_(0, i, W * x[j]).")
    ok("one continuous-filter convolution: a gather (x[j]), a product with the filter, a scatter-add onto i.")


__all__ = ["layers_needed", "aggregate_messages", "charge_state_gap"]
