"""The checkers of notebook 13 (minnp/exercises/message_passing.py) accept the reference solutions
and reject typical mistakes with their hint."""

import math

import numpy as np
import pytest
import torch
from ase import Atoms

from minnp.exercises import Hint
from minnp.exercises import message_passing as check
from minnp.models import MessagePassingPotential, SchNet


def test_layers_needed_checker():
    check.layers_needed(lambda d, r_cut: math.floor(d / r_cut) + 1)
    with pytest.raises(Hint, match="strictly larger"):
        check.layers_needed(lambda d, r_cut: math.ceil(d / r_cut))
    with pytest.raises(Hint, match="whole number"):
        check.layers_needed(lambda d, r_cut: d / r_cut)


def test_aggregate_messages_checker():
    check.aggregate_messages(lambda x, i, j, W: torch.zeros_like(x).index_add_(0, i, W * x[j]))
    with pytest.raises(Hint, match="NEIGHBOUR"):
        check.aggregate_messages(lambda x, i, j, W: torch.zeros_like(x).index_add_(0, i, W * x[i]))

    def mean(x, i, j, W):
        total = torch.zeros_like(x).index_add_(0, i, W * x[j])
        return total / torch.bincount(i, minlength=len(x)).clamp(min=1)[:, None]

    with pytest.raises(Hint, match="mean"):
        check.aggregate_messages(mean)


def test_charge_state_gap_checker():
    torch.manual_seed(0)
    model = MessagePassingPotential(SchNet(["Ag"], r_cut=6.0, n_features=4, n_interactions=1, total_charge=True))
    atoms = Atoms("Ag3", positions=[[0, 0, 0], [2.7, 0, 0], [1.3, 2.3, 0]])
    from minnp import atoms_to_batch, compute

    def right(model, atoms):
        energies = {}
        for charge in (-1.0, 1.0):
            state = atoms.copy()
            state.info["charge"] = charge
            energies[charge] = float(compute(model, atoms_to_batch(state), forces=False)["energy"][0])
        return energies[-1.0] - energies[1.0]

    check.charge_state_gap(right, model, atoms)
    with pytest.raises(Hint, match="sign"):
        check.charge_state_gap(lambda m, a: -right(m, a), model, atoms)
    with pytest.raises(Hint, match="same total charge"):
        check.charge_state_gap(lambda m, a: 0.0, model, atoms)
    assert np.isfinite(right(model, atoms))
