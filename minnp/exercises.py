"""Checkers for the course's exercises: specific, friendly feedback instead of a bare assert.

A checker takes the learner's answer (a value or a function), prints a short confirmation when it
is right, and raises :class:`Hint` with what is wrong and a nudge towards the fix when it is not.
Notebooks use them as ``import minnp.exercises as check`` then ``check.lj_minimum(fn)``.
Each notebook's checkers have their own section below; ``tests/test_exercises.py`` proves every
checker accepts the reference solution and rejects a typical wrong answer.
"""

from __future__ import annotations

import numpy as np


class Hint(AssertionError):
    """An answer that is not right yet; the message says why. Shown without a traceback in Jupyter."""

    def _render_traceback_(self):  # IPython shows this instead of the traceback
        return [f"\u2718 Not yet: {self}"]


def ok(message: str) -> None:
    print(f"\u2714 {message}")


def _close(value, expected, rtol=1e-6, atol=0.0) -> bool:
    return bool(np.allclose(np.asarray(value, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=atol))


# ---------------------------------------------------------------------------------------------
# 00 welcome
# ---------------------------------------------------------------------------------------------

def lj_minimum(fn) -> None:
    """Exercise 00.1: the Lennard-Jones minimum r_min = 2^(1/6) σ."""
    for sigma in (1.0, 3.4):
        r = float(fn(sigma))
        expected = 2 ** (1 / 6) * sigma
        if _close(r, sigma):
            raise Hint(f"for σ = {sigma} you returned σ itself: that is where u(r) = 0, not its minimum. "
                       "Set du/dr = 0 and solve for r.")
        if _close(r, expected * 2 ** (1 / 6)) or _close(r, 2 ** (1 / 3) * sigma):
            raise Hint(f"for σ = {sigma} you returned 2^(1/3) σ; check the exponent: (σ/r)^6 = 1/2.")
        if not _close(r, expected):
            raise Hint(f"for σ = {sigma} you returned {r:.4f} Å, expected {expected:.4f} Å. "
                       "Hint: du/dr = 0 gives (σ/r)^6 = 1/2.")
    ok("r_min = 2^(1/6) σ ≈ 1.1225 σ.")


def kinetic_temperature(fn) -> None:
    """Exercise 00.2: T = 2 E_kin / (3 N k_B) for N atoms with no constraints."""
    from ase.units import kB

    rng = np.random.default_rng(0)
    masses = rng.uniform(1, 60, 20)
    momenta = rng.normal(0, 1, (20, 3))
    e_kin = 0.5 * np.sum(momenta**2 / masses[:, None])
    expected = 2 * e_kin / (3 * 20 * kB)
    got = float(fn(masses, momenta))
    if _close(got, expected / 2):
        raise Hint("your temperature is half the expected one: E_kin = Σ p²/2m, and T = 2 E_kin / (3 N k_B).")
    if _close(got, 2 * e_kin / (3 * 20)):
        raise Hint("you forgot Boltzmann's constant: divide by ase.units.kB (eV/K) to get kelvin.")
    if not _close(got, expected):
        raise Hint(f"expected {expected:.2f} K for the test system, got {got:.2f} K; check E_kin = Σ p²/(2m).")
    ok(f"T = 2 E_kin / (3 N k_B) = {expected:.1f} K for the test system.")


# ---------------------------------------------------------------------------------------------
# 01 eam
# ---------------------------------------------------------------------------------------------

def fcc_energy_nearest_neighbours(fn) -> None:
    """Exercise 01.1: fcc energy per atom with nearest neighbours only, F(12 f(r)) + 6 φ(r), r = a/√2."""
    def F(rho):
        return -np.sqrt(rho)

    def f(r):
        return np.exp(-r)

    def phi(r):
        return 0.5 * np.exp(-2.0 * (r - 2.5))

    for a in (3.6, 4.1):
        r = a / np.sqrt(2)
        expected = F(12 * f(r)) + 6 * phi(r)
        got = float(fn(F, f, phi, a))
        if _close(got, F(12 * f(r)) + 12 * phi(r)):
            raise Hint("the pair term is counted twice: each bond is shared by two atoms, so an atom "
                       "gets ½ Σ_j φ = 6 φ(r) from its 12 neighbours.")
        if _close(got, F(12 * f(a)) + 6 * phi(a)):
            raise Hint("in fcc the nearest neighbours sit at a/√2, not at the lattice constant a.")
        if _close(got, 12 * F(f(r)) + 6 * phi(r)):
            raise Hint("F acts on the summed density, F(Σ_j f(r_ij)), not on each neighbour's share: "
                       "that is what makes EAM a many-body potential.")
        if not _close(got, expected):
            raise Hint(f"for a = {a} Å and the test functions expected {expected:.6f} eV, got {got:.6f} eV: "
                       "E = F(ρ) + ½ Σ_j φ(r) with ρ = Σ_j f(r) over the 12 nearest neighbours.")
    ok("E/atom = F(12 f(a/√2)) + 6 φ(a/√2): the nearest-neighbour EAM of an fcc crystal.")


def vacancy_formation_energy(fn) -> None:
    """Exercise 01.2: unrelaxed E_v = E(N-1) - (N-1)/N · E(N), checked on Zhou Ag (32-atom cell)."""
    from ase.build import bulk

    from minnp import Calculator
    from minnp.potentials import ZhouEAM

    model, a, repeat = ZhouEAM(["Ag"]), 4.09, 2
    perfect = bulk("Ag", "fcc", a=a, cubic=True).repeat(repeat)
    n = len(perfect)
    perfect.calc = Calculator(model, device="cpu")
    e_perfect = perfect.get_potential_energy()
    vacancy = perfect.copy()
    del vacancy[0]
    vacancy.calc = Calculator(model, device="cpu")
    e_vacancy = vacancy.get_potential_energy()
    expected = e_vacancy - (n - 1) / n * e_perfect
    got = float(fn(model, a, repeat))
    if _close(got, e_vacancy - e_perfect, rtol=1e-5):
        raise Hint("E(N-1) - E(N) compares crystals with different numbers of atoms; the removed atom "
                   "goes to the bulk, so subtract (N-1)/N · E(N).")
    if _close(got, -expected, rtol=1e-5):
        raise Hint("the sign is flipped: E_v = E(defective) - (N-1)/N · E(perfect) is positive.")
    if not _close(got, expected, rtol=1e-5):
        raise Hint(f"expected {expected:.4f} eV for a 2x2x2 cubic Ag cell at a = 4.09 Å (no relaxation), "
                   f"got {got:.4f} eV.")
    ok(f"unrelaxed vacancy formation energy of Zhou Ag: {expected:.3f} eV (experiment: about 1.1 eV).")


# ---------------------------------------------------------------------------------------------
# 02 tersoff
# ---------------------------------------------------------------------------------------------

def tersoff_angular(fn) -> None:
    """Exercise 02.1: g(θ) = γ (1 + c²/d² - c² / (d² + (cos θ - h)²))."""
    cos = np.linspace(-1, 1, 21)
    for gamma, c, d, h in [(1.0, 1.0039e5, 16.217, -0.59825), (0.114, 19.98, 7.034, -0.33)]:
        expected = gamma * (1 + c**2 / d**2 - c**2 / (d**2 + (cos - h) ** 2))
        got = np.asarray(fn(cos, gamma, c, d, h), dtype=float)
        if got.shape != cos.shape:
            raise Hint(f"return one value per cos θ: expected shape {cos.shape}, got {got.shape}.")
        if _close(got, gamma * (1 + c**2 / d**2 - c**2 / (d**2 + (cos + h) ** 2))):
            raise Hint("the sign of h: the minimum of g sits at cos θ = h, so the term is (cos θ - h)².")
        if gamma != 1 and _close(got, 1 + c**2 / d**2 - c**2 / (d**2 + (cos - h) ** 2)):
            raise Hint("γ multiplies the whole expression (it is 1 for Tersoff's own sets, not for Albe's).")
        if not _close(got, expected):
            raise Hint(f"for γ={gamma}, c={c}, d={d}, h={h} your g differs from γ(1 + c²/d² - c²/(d² + (cos θ - h)²)) "
                       f"by up to {np.abs(got - expected).max():.3g}.")
    ok("g(θ) is smallest at cos θ = h and grows towards θ = 0°: it penalises crowded bonds.")


def tersoff_bond_order(fn) -> None:
    """Exercise 02.2: b = (1 + (β ζ)^n)^(-1/(2n))."""
    zeta = np.array([0.3, 1.0, 2.0, 3.0, 6.0])
    for beta, n in [(1.0999e-6, 0.78734), (0.33675, 22.956)]:
        expected = (1 + (beta * zeta) ** n) ** (-1 / (2 * n))
        got = np.asarray(fn(zeta, beta, n), dtype=float)
        if _close(got, (1 + (beta * zeta) ** n) ** (-1 / n)):
            raise Hint("the exponent is -1/(2n), not -1/n: for large ζ, b → (βζ)^(-1/2), Pauling's 1/√z.")
        if _close(got, (1 + beta * zeta**n) ** (-1 / (2 * n))):
            raise Hint("β is raised to the power n too: (1 + β^n ζ^n).")
        if not _close(got, expected):
            raise Hint(f"for β={beta}, n={n} expected b = {np.round(expected, 6).tolist()}, got {np.round(got, 6).tolist()}.")
    ok("b_ij = (1 + (βζ)^n)^(-1/2n): 1 for an isolated bond, ~ζ^(-1/2) for many neighbours.")
