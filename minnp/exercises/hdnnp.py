"""Checkers for the exercises of notebook 07 (07_hdnnp.ipynb): the HDNNP.

The notebook imports them as ``from minnp.exercises import hdnnp as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``reference_energies``, ``forces_from_jacobian``,
``energy_only_forces``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok


def reference_energies(fn) -> None:
    """Exercise 07.1: per-element reference energies, least squares of total energies on element counts."""
    counts = np.array([[2, 1], [4, 2], [2, 2], [6, 1], [3, 3], [8, 4]], dtype=float)  # (structures, elements)
    truth = np.array([-13.6, -430.0])
    energies = counts @ truth + np.array([0.3, -0.2, 0.1, 0.4, -0.3, 0.05])  # plus interaction energies
    expected, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    got = answer(fn(counts.copy(), energies.copy())).ravel()
    if got.shape != expected.shape:
        raise Hint(f"return one energy per element, shape {expected.shape}; got {got.shape}.")
    if close(got, np.full(2, energies.sum() / counts.sum())):
        raise Hint("that is the mean energy per atom, the same for every element; with two elements "
                   "solve counts @ e ≈ energies in the least-squares sense (np.linalg.lstsq).")
    if close(got, truth, rtol=1e-12):
        raise Hint("these are the noiseless energies; fit the energies you were given.")
    if not close(got, expected, rtol=1e-8):
        raise Hint(f"expected {np.round(expected, 3).tolist()} eV, got {np.round(got, 3).tolist()}: "
                   "minimise Σ_s (E_s - Σ_Z n_sZ e_Z)².")
    ok(f"e_H = {expected[0]:.2f} eV, e_O = {expected[1]:.2f} eV: the networks now learn only the remainder.")


def _pair_system(seed: int = 7):
    import torch

    rng = np.random.default_rng(seed)
    n_atoms, n_features = 5, 3
    i = np.sort(rng.integers(0, n_atoms, 14))
    j = (i + rng.integers(1, n_atoms, 14)) % n_atoms  # never its own centre
    return (torch.tensor(rng.normal(size=(n_atoms, n_features))), torch.tensor(rng.normal(size=(14, n_features, 3))),
            torch.tensor(i), torch.tensor(j), n_atoms)


def forces_from_jacobian(fn) -> None:
    """Exercise 07.2: F_a = Σ_{p: i_p = a} ∂E/∂r_p - Σ_{p: j_p = a} ∂E/∂r_p, ∂E/∂r_p = Σ_f ∂E/∂G_{i_p f} J_pf."""
    dE_dG, jacobian, i, j, n_atoms = _pair_system()
    dE_dr = np.einsum("pf,pfc->pc", dE_dG.numpy()[i.numpy()], jacobian.numpy())  # (P, 3)
    on_centre, on_neighbour = np.zeros((n_atoms, 3)), np.zeros((n_atoms, 3))
    np.add.at(on_centre, i.numpy(), dE_dr)  # r_p = x_j - x_i: -∂E/∂x_i = +∂E/∂r_p
    np.add.at(on_neighbour, j.numpy(), dE_dr)
    expected = on_centre - on_neighbour  # (n_atoms, 3)
    got = answer(fn(dE_dG.clone(), jacobian.clone(), i.clone(), j.clone(), n_atoms))
    if got.shape != expected.shape:
        raise Hint(f"return forces of shape (n_atoms, 3) = {expected.shape}, got {got.shape}.")
    if close(got, -expected):
        raise Hint("the sign is flipped: forces are -∂E/∂x, and r_p = x_j - x_i, so the centre i gains +∂E/∂r_p.")
    if close(got, on_centre) or close(got, -on_neighbour):
        raise Hint("only one end of each pair: r_p = x_j - x_i moves with both atoms, so add +∂E/∂r_p at the "
                   "centre i and -∂E/∂r_p at the neighbour j.")
    if close(got, _pair_forces_with(dE_dG.numpy()[j.numpy()], jacobian.numpy(), i.numpy(), j.numpy(), n_atoms)):
        raise Hint("∂E/∂G must be taken at the centre i_p of each pair (the Jacobian is ∂G_{i_p}/∂r_p), not at j_p.")
    if not close(got, expected, rtol=1e-10, atol=1e-12):
        raise Hint("not yet: ∂E/∂r_p = Σ_f ∂E/∂G[i_p, f] · J[p, f, :], then index_add it onto i (+) and j (-).")
    ok("forces from precomputed derivatives: training never recomputes a descriptor.")


def _pair_forces_with(dE_dG_rows, jacobian, i, j, n_atoms):
    dE_dr = np.einsum("pf,pfc->pc", dE_dG_rows, jacobian)
    out = np.zeros((n_atoms, 3))
    np.add.at(out, i, dE_dr)
    np.add.at(out, j, -dE_dr)
    return out


def energy_only_forces(fn, with_forces: dict) -> None:
    """Exercise 07.3: a model trained on energies only predicts worse forces than one trained on both."""
    metrics = fn()
    if not isinstance(metrics, dict) or not {"energy_rmse", "force_rmse"} <= set(metrics):
        raise Hint("return the test metrics of minnp.train.evaluate: a dict with energy_rmse and force_rmse.")
    if metrics["force_rmse"] <= with_forces["force_rmse"]:
        raise Hint(f"force RMSE {metrics['force_rmse']:.3f} eV/Å is not worse than with forces "
                   f"({with_forces['force_rmse']:.3f}): did you train with force_weight=0?")
    ratio = metrics["force_rmse"] / with_forces["force_rmse"]
    ok(f"energies only: forces {ratio:.1f}x worse ({metrics['force_rmse']:.3f} vs {with_forces['force_rmse']:.3f} "
       "eV/Å). One energy per cell says little about how it changes when one atom moves; 3N forces say it directly.")
