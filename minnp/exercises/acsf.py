"""Checkers for the exercises of notebook 04 (04_acsf.ipynb): atom-centred symmetry functions.

The notebook imports them as ``from minnp.exercises import acsf as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``g2_by_hand``, ``g4_column``,
``fcc_hcp_first_shell``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, close, ok
from minnp.exercises.invariance import random_clusters


def g2_by_hand(fn) -> None:
    """Exercise 04.1: G2 of one atom of a cluster, Σ_j exp(-η (r_ij - R_s)²) f_c(r_ij)."""
    from minnp.descriptors import ACSF

    for atoms in random_clusters(5, sizes=(6, 10)):
        for eta, r_s, r_cut in [(0.5, 0.0, 4.0), (2.0, 2.5, 5.0)]:
            expected = ACSF(species=["Ar"], r_cut=r_cut, g2_params=[[eta, r_s]]).create(atoms, centers=[0])[0, 1]
            got = float(fn(atoms, 0, eta, r_s, r_cut))
            d = np.linalg.norm(atoms.positions[1:] - atoms.positions[0], axis=1)
            inside = d < r_cut
            if close(got, np.exp(-eta * (d[inside] - r_s) ** 2).sum()):
                raise Hint("you left out the cutoff function: multiply each term by f_c(r) = ½(cos(π r/r_cut) + 1).")
            if close(got, expected + np.exp(-eta * r_s**2)):
                raise Hint("the atom itself crept in (r = 0): sum over the other atoms j ≠ i only.")
            if close(got, np.sum(np.exp(-eta * (d[inside] ** 2 - r_s**2) ** 2) * 0.5 * (np.cos(np.pi * d[inside] / r_cut) + 1))):
                raise Hint("the Gaussian is in (r - R_s)², not (r² - R_s²)².")
            if not close(got, expected, rtol=1e-8):
                raise Hint(f"for η = {eta}, R_s = {r_s}, r_cut = {r_cut}: expected {expected:.6f}, got {got:.6f}.")
    ok("G2 by hand equals minnp's (and DScribe's) G2.")


def g4_column(fn) -> None:
    """Exercise 04.2: the column of angular function k of species pair (a, b) in DScribe's layout."""
    from minnp.descriptors import ACSF

    for n_species, n_g2, n_g4 in [(3, 2, 2), (4, 1, 3)]:
        species = ["H", "C", "N", "O"][:n_species]
        acsf = ACSF(species=species, r_cut=5.0, g2_params=[[1.0, float(k)] for k in range(n_g2)],
                    g4_params=[[0.01 * (k + 1), 1.0, 1.0] for k in range(n_g4)])
        names = acsf.feature_names()
        n_radial = 1 + n_g2
        for a in range(n_species):
            for b in range(n_species):
                for k in range(n_g4):
                    got = int(fn(n_species, n_radial, n_g4, a, b, k))
                    lo, hi = min(a, b), max(a, b)
                    expected = names.index(
                        f"G4(eta={0.01 * (k + 1):g}, zeta=1, lambda=1) {species[lo]}-{species[hi]}")
                    tutorial = n_species * n_radial + (lo * n_species - lo * (lo - 1) // 2 + hi - lo) * n_g4 + k
                    if got == tutorial and got != expected:
                        raise Hint("that is the pair order of DScribe's tutorial text, (0,0), (0,1), (0,2), (1,1), ...; "
                                   "the code uses block a(a+1)/2 + b with a = max, b = min: (0,0), (0,1), (1,1), (0,2), ...")
                    if got == expected - n_species * n_radial:
                        raise Hint("the angular blocks come after all radial blocks: add n_species · n_radial.")
                    if got != expected:
                        raise Hint(f"{n_species} species, n_radial = {n_radial}, {n_g4} G4: pair ({a}, {b}), function "
                                   f"{k} sits in column {expected} ({names[expected]!r}), you gave {got}.")
    ok("you can find any ACSF column: radial blocks per species, then pair blocks a(a+1)/2 + b.")


def fcc_hcp_first_shell(fn) -> None:
    """Exercise 04.3: an ACSF with r_cut ≤ 1.25 d that tells fcc from hcp (same nearest-neighbour d)."""
    from ase.build import bulk

    d = 2.55
    fcc = bulk("Cu", "fcc", a=d * np.sqrt(2))
    hcp = bulk("Cu", "hcp", a=d, c=d * np.sqrt(8 / 3))
    acsf = fn(d)
    if not getattr(acsf, "periodic", False):
        raise Hint("make the descriptor periodic (periodic=True): the crystals are periodic.")
    if acsf.r_cut > 1.25 * d:
        raise Hint(f"r_cut = {acsf.r_cut:.2f} Å reaches beyond the first shell (1.25 d = {1.25 * d:.2f} Å); "
                   "the point is to tell them apart from the 12 nearest neighbours alone.")
    x_fcc, x_hcp = acsf.create(fcc)[0], acsf.create(hcp)
    difference = np.abs(x_hcp - x_fcc).max(axis=1).min() / np.abs(x_fcc).max()
    if difference < 1e-6:
        raise Hint("fcc and hcp look identical to this descriptor. Radial functions cannot help: both have 12 "
                   "neighbours at d. G4 keeps only pairs with r_jk < r_cut, i.e. the 60° pairs, 24 in both. "
                   "G5 sees every angle, but with ζ = 1 or 2 it only measures Σ cos θ and Σ cos² θ, which fcc "
                   "and ideal hcp share. Try G5 with ζ ≥ 3.")
    ok(f"fcc and hcp differ by {100 * difference:.2g} % of the largest feature: angles beyond 60° "
       "(only G5 sees them here) and ζ ≥ 3 tell the stackings apart.")
