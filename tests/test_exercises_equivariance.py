"""The checkers of notebook 14 (minnp/exercises/equivariance.py): each accepts the reference
solution and rejects a typical wrong answer with a message that says what to fix."""

from __future__ import annotations

import numpy as np
import pytest

from minnp.exercises import Hint
from minnp.exercises import equivariance as check


def test_coupled_orders_accepts_the_triangle_rule_and_rejects_starting_at_zero(capsys):
    check.coupled_orders(lambda l1, l2: list(range(abs(l1 - l2), l1 + l2 + 1)))
    assert "✔" in capsys.readouterr().out
    with pytest.raises(Hint, match=r"smallest order is \|l1 - l2\|"):
        check.coupled_orders(lambda l1, l2: list(range(l1 + l2 + 1)))


def _vector_sum(r_ij, i, n_atoms):
    out = np.zeros((n_atoms, 3))
    np.add.at(out, i, r_ij / np.linalg.norm(r_ij, axis=1, keepdims=True))
    return out


def test_bond_vector_sum_accepts_unit_vectors_and_rejects_raw_bond_vectors(capsys):
    check.bond_vector_sum(_vector_sum)
    assert "✔" in capsys.readouterr().out

    def raw(r_ij, i, n_atoms):
        out = np.zeros((n_atoms, 3))
        np.add.at(out, i, r_ij)
        return out

    with pytest.raises(Hint, match="unit vectors"):
        check.bond_vector_sum(raw)
    with pytest.raises(Hint, match="one vector per atom"):
        check.bond_vector_sum(lambda r_ij, i, n_atoms: r_ij)


def _paths(l_max):
    return sum(1 for l1 in range(l_max + 1) for l2 in range(l_max + 1)
               for l3 in range(abs(l1 - l2), min(l1 + l2, l_max) + 1) if (l1 + l2 + l3) % 2 == 0)


def test_tensor_product_paths_accepts_the_count_and_rejects_ignoring_parity(capsys):
    check.tensor_product_paths(_paths)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(Hint, match="parity"):
        check.tensor_product_paths(lambda l_max: sum(1 for l1 in range(l_max + 1) for l2 in range(l_max + 1)
                                                     for l3 in range(abs(l1 - l2), min(l1 + l2, l_max) + 1)))
