"""Checkers for the exercises of notebook 09 (09_qeq.ipynb): charge equilibration.

The notebook imports them as ``from minnp.exercises import qeq as check``; each takes the
learner's answer, prints a confirmation when it is right and raises :class:`Hint` saying what is
wrong and how to fix it when it is not. Checkers: ``two_atom_charges``, ``qeq_solve``,
``far_end_gain``.
"""

from __future__ import annotations

import numpy as np

from minnp.exercises.feedback import Hint, answer, close, ok


def _spd_matrix(rng, n: int) -> np.ndarray:
    """A symmetric positive-definite 'A' with a Coulomb-like look: big diagonal, smaller couplings."""
    couplings = rng.uniform(2.0, 6.0, (n, n))
    couplings = 0.5 * (couplings + couplings.T)
    return couplings + np.diag(rng.uniform(12.0, 20.0, n) + n * 6.0)


def _bordered(A, chi, Q):
    n = len(chi)
    system = np.block([[A, np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    solution = np.linalg.solve(system, np.concatenate([-np.asarray(chi, dtype=float), [Q]]))
    return solution[:n], -solution[n]


def two_atom_charges(fn) -> None:
    """Exercise 09.1: q1 = [Q(A22 - A12) + χ2 - χ1] / (A11 + A22 - 2 A12), q2 = Q - q1."""
    rng = np.random.default_rng(9)
    for Q in (0.0, 1.0, -0.5):
        A, chi = _spd_matrix(rng, 2), rng.uniform(2.0, 9.0, 2)
        expected, _ = _bordered(A, chi, Q)
        got = answer(fn(chi, A, Q)).ravel()
        if got.shape != (2,):
            raise Hint(f"return the two charges (q1, q2), got an answer of shape {got.shape}.")
        denominator = A[0, 0] + A[1, 1] - 2 * A[0, 1]
        flipped = (Q * (A[1, 1] - A[0, 1]) - chi[1] + chi[0]) / denominator
        if close(got, [flipped, Q - flipped], rtol=1e-8):
            raise Hint("the signs are flipped: charge flows from the atom with the smaller χ to the one with the "
                       "larger χ, which ends negative. Check χ2 - χ1 in the numerator.")
        if not close(got.sum(), Q, atol=1e-9):
            raise Hint(f"for Q = {Q} your charges add up to {got.sum():.4f}: set q2 = Q - q1.")
        if not close(got, expected, rtol=1e-8, atol=1e-12):
            raise Hint(f"for χ = {np.round(chi, 3).tolist()}, Q = {Q}: expected {np.round(expected, 5).tolist()} e, "
                       f"got {np.round(got, 5).tolist()}. Did you include Q(A22 - A12)?")
    ok("two atoms: the charge is the electronegativity difference over the 'hardness of the pair' A11 + A22 - 2A12.")


def qeq_solve(fn) -> None:
    """Exercise 09.2: the bordered system [[A, 1], [1ᵀ, 0]] [q; λ] = [-χ; Q], μ = -λ."""
    rng = np.random.default_rng(90)
    for n, Q in ((5, 0.0), (3, 1.0), (7, -2.0)):
        A, chi = _spd_matrix(rng, n), rng.uniform(2.0, 9.0, n)
        q_expected, mu_expected = _bordered(A, chi, Q)
        returned = fn(A, chi, Q)
        if not (isinstance(returned, tuple) and len(returned) == 2):
            raise Hint("return two things: the charges q (n,) and μ (a number).")
        q, mu = answer(returned[0]).ravel(), float(returned[1])
        if q.shape != (n,):
            raise Hint(f"q must have one charge per atom, shape ({n},), got {q.shape}.")
        if not close(q.sum(), Q, atol=1e-9):
            raise Hint(f"your charges add up to {q.sum():.4f}, not Q = {Q}: the last row of the bordered system "
                       "is the constraint Σq = Q (ones, and Q on the right-hand side).")
        if close(q, -q_expected, atol=1e-9) and Q == 0:
            raise Hint("the charges have the wrong sign: the right-hand side is -χ, not χ.")
        if not close(q, q_expected, rtol=1e-8, atol=1e-12):
            raise Hint(f"for n = {n}, Q = {Q} the charges differ from the solution (largest difference "
                       f"{np.abs(q - q_expected).max():.3g} e). Build [[A, 1], [1ᵀ, 0]] and solve it with [-χ; Q].")
        if close(mu, -mu_expected, rtol=1e-8):
            raise Hint("μ has the wrong sign: the first rows read A q + λ = -χ, so μ = χ_i + (A q)_i = -λ.")
        if not close(mu, mu_expected, rtol=1e-8):
            raise Hint(f"charges right, μ = {mu:.4f} eV/e but expected {mu_expected:.4f}: μ = -λ, the last unknown.")
    ok("one linear solve: charges that sum to Q and one electronegativity μ shared by every atom.")


def far_end_gain(fn, far_end) -> None:
    """Exercise 09.3: q_farCH(C10H3+) - q_farCH(C10H2) by Qeq, on straight test chains."""
    from minnp.datasets import carbon_chain
    from minnp.electrostatics import qeq
    from minnp.electrostatics.qeq import RAPPE_GODDARD

    neutral, cation = carbon_chain(False), carbon_chain(True)
    cation.info["charge"] = 1.0
    chi = {e: RAPPE_GODDARD[e][0] for e in "CH"}
    sigma = {e: RAPPE_GODDARD[e][2] for e in "CH"}
    for scale in (1.0, 0.5):
        hardness = {e: scale * RAPPE_GODDARD[e][1] for e in "CH"}
        expected = (qeq(cation, chi, hardness, sigma)[far_end(cation)].sum()
                    - qeq(neutral, chi, hardness, sigma)[far_end(neutral)].sum())
        got = float(fn(neutral, cation, chi, hardness, sigma))
        if close(got, -expected):
            raise Hint("the sign is flipped: return (far-end charge in C10H3+) minus (far-end charge in C10H2).")
        if close(got, 0.0, atol=1e-9):
            raise Hint("you got zero: did the cation keep its total charge? qeq reads it from atoms.info['charge'].")
        if not close(got, expected, rtol=1e-6):
            raise Hint(f"with J x {scale}: expected {expected:+.4f} e, got {got:+.4f} e. Sum the charges of the "
                       "atoms far_end(chain) returns, after minus before.")
    ok(f"the far end gains {expected:+.3f} e with J halved: softer atoms let the charge spread further.")
