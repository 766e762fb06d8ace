"""Checkers for the exercises of notebook 10 (10_fourth_generation.ipynb): the fourth generation.

The notebook imports them as ``from minnp.exercises import fourth_generation as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``best_charge_blind_rmse``,
``spread_excess_charge``, ``charge_state_gap``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok


def best_charge_blind_rmse(fn) -> None:
    """Exercise 10.1: predicting the mean of both charge states leaves RMSE = sqrt(mean(((E+ - E-)/2n)²))."""
    rng = np.random.default_rng(10)
    e_plus = rng.normal(-307.5, 0.5, 50)
    e_minus = e_plus - rng.normal(17.6, 0.4, 50)
    expected = float(np.sqrt(np.mean(((e_plus - e_minus) / 2 / 3) ** 2)))
    got = float(fn(e_plus, e_minus, 3))
    if close(got, 2 * expected):
        raise Hint("twice too large: the best single prediction is the mean of the two energies, "
                   "so each one is off by HALF the gap.")
    if close(got, 3 * expected):
        raise Hint("per structure, not per atom: divide the energies by the number of atoms.")
    if close(got, float(np.mean(np.abs(e_plus - e_minus))) / 6):
        raise Hint("that is the mean absolute error; the RMSE squares the errors first, then takes the root of the mean.")
    if not close(got, expected, rtol=1e-6):
        raise Hint(f"for the test data expected {expected:.4f} eV/atom, got {got:.4f}. "
                   "The best charge-blind prediction is (E+ + E-)/2 for both states.")
    ok(f"half the gap per atom: {expected:.2f} eV/atom for a 17.6 eV gap in Ag3, a floor no charge-blind model can beat.")


def spread_excess_charge(fn) -> None:
    """Exercise 10.2: q_i + (Q_s - Σ_{j∈s} q_j)/n_s, per structure s."""
    rng = np.random.default_rng(11)
    structure = np.repeat([0, 1, 2], [4, 7, 3])
    charges = rng.normal(0, 0.3, len(structure))
    total = np.array([0.0, 1.0, -1.0])
    sums = np.bincount(structure, weights=charges)
    expected = charges + ((total - sums) / np.bincount(structure))[structure]
    got = answer(fn(charges.copy(), structure.copy(), total.copy())).ravel()
    if got.shape != charges.shape:
        raise Hint(f"return one charge per atom, shape {charges.shape}, got {got.shape}.")
    got_sums = np.bincount(structure, weights=got)
    if close(got, charges + (total.sum() - charges.sum()) / len(charges)):
        raise Hint("you spread the excess of the whole batch over all atoms; do it per structure "
                   "(np.bincount(structure, weights=charges) gives the sum of each).")
    if not close(got_sums, total, atol=1e-9):
        raise Hint(f"the structures' charges sum to {np.round(got_sums, 4).tolist()}, expected {total.tolist()}.")
    if not close(got, expected, atol=1e-12):
        raise Hint("the sums are right but the charges are not: shift every atom of a structure by the same "
                   "amount, (Q - Σq)/n, so that differences between atoms stay as the network predicted them.")
    ok("total charges restored; note that an even shift cannot move charge from one end of a molecule to the other.")


def charge_state_gap(fn, model, atoms) -> None:
    """Exercises 10.3 and 13.3: E(Q=-1) - E(Q=+1) from the model (4G or GNN) for one geometry."""
    import torch

    from minnp import atoms_to_batch, compute

    device = next(model.parameters()).device
    energies = {}
    for charge in (-1.0, 1.0):
        state = atoms.copy()
        state.info["charge"] = charge
        energies[charge] = float(compute(model, atoms_to_batch(state, device=device), forces=False)["energy"][0])
    expected = energies[-1.0] - energies[1.0]
    got = fn(model, atoms)
    got = float(got.detach().cpu()) if isinstance(got, torch.Tensor) else float(got)
    if close(got, -expected) and not close(expected, 0.0, atol=1e-9):
        raise Hint("the sign is flipped: return E(Q = -1) minus E(Q = +1).")
    if close(got, 0.0, atol=1e-9) and not close(expected, 0.0, atol=1e-9):
        raise Hint("zero: both calls saw the same total charge. Set atoms.info['charge'] on a copy before "
                   "atoms_to_batch, which reads it from there.")
    if not close(got, expected, rtol=1e-6, atol=1e-9):
        raise Hint(f"expected {expected:.4f} eV from this model, got {got:.4f}.")
    ok(f"E(Q=-1) - E(Q=+1) = {expected:.2f} eV from this model at this geometry (GFN2-xTB for Ag3: about -17.7 eV).")
