"""Checkers for the exercises of notebook 08 (08_ewald.ipynb): Ewald summation.

The notebook imports them as ``from minnp.exercises import ewald as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``gaussian_self_energy``,
``gaussian_real_space_kernel``, ``madelung_constant``, ``vacancy_energy_slope``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok


def gaussian_self_energy(fn) -> None:
    """Exercise 08.1: the self energy of a Gaussian charge, K_E q² / (2 σ √π), in eV."""
    from minnp.electrostatics import K_E

    q = np.array([1.0, -0.4, 2.0])
    sigma = np.array([0.5, 1.2, 0.8])
    expected = K_E * q**2 / (2 * sigma * np.sqrt(np.pi))
    got = answer(fn(q, sigma))
    if got.shape != expected.shape:
        raise Hint(f"return one self energy per charge: shape {expected.shape}, got {got.shape}.")
    if close(got, expected / K_E):
        raise Hint("that is in e²/Å: multiply by K_E = 14.3996 eV·Å to get eV.")
    if close(got, 2 * expected):
        raise Hint("twice too large: the self energy is ½ ∫ρφ, half the interaction of the Gaussian with its own potential.")
    if close(got, expected * np.sqrt(np.pi)):
        raise Hint("a factor √π is missing: φ(0) = q √(2/π) / γ with γ = √2 σ for a Gaussian with itself.")
    if close(got, expected * np.sqrt(2)):
        raise Hint("off by √2: the width of a Gaussian interacting with itself is γ_ii = √(σ² + σ²) = √2 σ, not σ.")
    if not close(got, expected, rtol=1e-8):
        raise Hint(f"for q = {q.tolist()} and σ = {sigma.tolist()} Å expected {np.round(expected, 4).tolist()} eV, "
                   f"got {np.round(got, 4).tolist()}.")
    ok("E_self = K_E q² / (2σ√π): 14.4 eV/(2·0.5·1.77) = 8.1 eV for a unit charge of width 0.5 Å.")


def gaussian_real_space_kernel(fn) -> None:
    """Exercise 08.2: the Ewald real-space kernel of Gaussian charges, [erfc(r/√2η) - erfc(r/√2γ)]/r."""
    from scipy.special import erf, erfc

    r = np.linspace(0.5, 12.0, 40)
    for eta, gamma in [(1.5, 0.9), (0.7, 1.6)]:
        expected = (erfc(r / (np.sqrt(2) * eta)) - erfc(r / (np.sqrt(2) * gamma))) / r
        got = answer(fn(r, eta, gamma))
        if close(got, erfc(r / (np.sqrt(2) * eta)) / r):
            raise Hint("that is the point-charge kernel erfc(r/√2η)/r: Gaussian charges interact through "
                       "erf(r/√2γ)/r, so subtract erfc(r/√2γ)/r as well.")
        if close(got, -expected):
            raise Hint("the sign is flipped: the kernel is erfc(r/√2η)/r minus erfc(r/√2γ)/r.")
        if close(got, (erfc(r / eta) - erfc(r / gamma)) / r):
            raise Hint("a √2 is missing: with σ a standard deviation the arguments are r/(√2 η) and r/(√2 γ).")
        if close(got, (erf(r / (np.sqrt(2) * gamma)) - erf(r / (np.sqrt(2) * eta))) / r, rtol=1e-6) and not close(
                got, expected, rtol=1e-12, atol=1e-14):
            raise Hint("right formula, but 1 - erf loses all digits at large r: write it with erfc.")
        if not close(got, expected, rtol=1e-10, atol=1e-14):
            raise Hint(f"for η = {eta}, γ = {gamma} at r = {r[0]:.2f} Å expected {expected[0]:.6f} 1/Å, "
                       f"got {got[0]:.6f}.")
    ok("the real-space kernel decays like the slower of exp(-r²/2η²) and exp(-r²/2γ²): "
       "r_cut must cover both.")


def madelung_constant(fn) -> None:
    """Exercise 08.3: M = -E · length / (formula units · K_E) from minnp's Ewald energy."""
    from ase.build import bulk

    from minnp.electrostatics import K_E

    cases = [("rocksalt NaCl", bulk("NaCl", "rocksalt", a=5.64), [1, -1], 5.64 / 2, 1, 1.7475645946),
             ("CsCl", bulk("CsCl", "cesiumchloride", a=4.12), [1, -1], 4.12, 1, 2.0353615095),
             ("fluorite CaF2 (4 formula units)", bulk("CaF2", "fluorite", a=5.46, cubic=True), [2, -1, -1] * 4,
              5.46, 4, 11.6365752270768)]
    for name, atoms, q, length, units_, expected in cases:
        got = float(fn(atoms, q, length, units_))
        if close(got, -expected):
            raise Hint(f"{name}: negative. The Madelung constant is positive for a stable crystal: M = -E·d/(n K_E).")
        if close(got, expected * units_) and units_ > 1:
            raise Hint(f"{name}: {units_}x too large: divide by the number of formula units in the cell.")
        if close(got, expected * K_E):
            raise Hint(f"{name}: divide by K_E = 14.3996 eV·Å to make it dimensionless.")
        if not close(got, expected, rtol=1e-7):
            raise Hint(f"{name}: expected {expected:.8f}, got {got:.8f}.")
    ok("NaCl 1.74756, CsCl 2.03536 (per a), CaF2 11.63658 (per a): you can now look up any structure's constant.")


def vacancy_energy_slope(fn) -> None:
    """Exercise 08.4: removing a Cl⁻ from n×n×n NaCl cells: ΔE(L) = ΔE∞ - α K_E / (2L), α = 2.8372975."""
    from minnp.electrostatics import K_E

    a = 5.64
    sizes = np.array([1, 2, 3])
    delta = np.array([float(fn(int(n))) for n in sizes])
    if np.ptp(delta) < 1e-6:
        raise Hint("ΔE does not change with the cell size: is the defective cell charged? Remove a chloride "
                   "(charge -1) and keep the other charges as they are; minnp adds the neutralising background.")
    slope, intercept = np.polyfit(1 / (a * sizes), delta, 1)
    expected = -2.8372974794806 * K_E / 2
    if close(slope, -expected, rtol=1e-4):
        raise Hint("the slope has the wrong sign: ΔE is E(with vacancy) - E(perfect).")
    if not close(slope, expected, rtol=1e-5):
        raise Hint(f"slope {slope:.3f} eV·Å, expected {expected:.3f} eV·Å (the Madelung constant of a simple "
                   "cubic lattice of charges in a background, 2.8373, times -K_E q²/2). Did you remove exactly one "
                   "Cl⁻ from the cubic 8-atom cell repeated n×n×n?")
    ok(f"ΔE = {intercept:.3f} eV - 2.8373 K_E/(2L): a charged defect sees its own images and the background "
       "(Makov & Payne, PRB 51, 4014 (1995)); ΔE∞ is the Madelung energy of the missing ion.")
