"""Shared test fixtures: random structures of every awkward kind the core must handle."""

import numpy as np
import pytest
from ase import Atoms


def random_cell_structure(rng, n_atoms=6, pbc=(True, True, True), scale=4.0, symbols="Ar"):
    """A triclinic cell (possibly smaller than the cutoff) with atoms also outside it."""
    cell = np.eye(3) * scale + rng.normal(0, 0.6, (3, 3))
    positions = rng.random((n_atoms, 3)) @ cell + rng.normal(0, 1.0, (n_atoms, 3))
    return Atoms(symbols * n_atoms if len(symbols) <= 2 else symbols, positions=positions, cell=cell, pbc=pbc)


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)
