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


def finite_difference_forces(model, atoms, entries=None, h=1e-5):
    """F = -dE/dx by central differences, for (atom, axis) ``entries`` (default: all).

    The independent reference every energy module's autograd forces are checked against.
    Returns an (n_atoms, 3) array, NaN where an entry was not computed.
    """
    from minnp import atoms_to_batch, compute

    def energy(positions):
        moved = atoms.copy()
        moved.positions = positions
        return compute(model, atoms_to_batch(moved), forces=False)["energy"].item()

    fd = np.full((len(atoms), 3), np.nan)
    for i, a in entries if entries is not None else np.ndindex(len(atoms), 3):
        plus, minus = atoms.positions.copy(), atoms.positions.copy()
        plus[i, a] += h
        minus[i, a] -= h
        fd[i, a] = -(energy(plus) - energy(minus)) / (2 * h)
    return fd
