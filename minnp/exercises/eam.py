"""Checkers for the exercises of notebook 01 (01_eam.ipynb): the embedded-atom method.

The notebook imports them as ``from minnp.exercises import eam as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``fcc_energy_nearest_neighbours``,
``vacancy_formation_energy``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, close, ok


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
        if close(got, F(12 * f(r)) + 12 * phi(r)):
            raise Hint("the pair term is counted twice: each bond is shared by two atoms, so an atom "
                       "gets ½ Σ_j φ = 6 φ(r) from its 12 neighbours.")
        if close(got, F(12 * f(a)) + 6 * phi(a)):
            raise Hint("in fcc the nearest neighbours sit at a/√2, not at the lattice constant a.")
        if close(got, 12 * F(f(r)) + 6 * phi(r)):
            raise Hint("F acts on the summed density, F(Σ_j f(r_ij)), not on each neighbour's share: "
                       "that is what makes EAM a many-body potential.")
        if not close(got, expected):
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
    if close(got, e_vacancy - e_perfect, rtol=1e-5):
        raise Hint("E(N-1) - E(N) compares crystals with different numbers of atoms; the removed atom "
                   "goes to the bulk, so subtract (N-1)/N · E(N).")
    if close(got, -expected, rtol=1e-5):
        raise Hint("the sign is flipped: E_v = E(defective) - (N-1)/N · E(perfect) is positive.")
    if not close(got, expected, rtol=1e-5):
        raise Hint(f"expected {expected:.4f} eV for a 2x2x2 cubic Ag cell at a = 4.09 Å (no relaxation), "
                   f"got {got:.4f} eV.")
    ok(f"unrelaxed vacancy formation energy of Zhou Ag: {expected:.3f} eV (experiment: about 1.1 eV).")
