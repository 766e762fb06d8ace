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


# ---------------------------------------------------------------------------------------------
# 03 invariance
# ---------------------------------------------------------------------------------------------

def _random_clusters(seed: int, sizes=(3, 5, 8)):
    from ase import Atoms

    rng = np.random.default_rng(seed)
    return [Atoms(f"Ar{n}", positions=rng.normal(0, 2.0, (n, 3))) for n in sizes]


def sorted_distances(fn) -> None:
    """Exercise 03.1: all n(n-1)/2 interatomic distances of a cluster, sorted ascending."""
    for atoms in _random_clusters(3):
        n = len(atoms)
        d = atoms.get_all_distances()
        expected = np.sort(d[np.triu_indices(n, 1)])
        got = np.asarray(fn(atoms), dtype=float).ravel()
        if got.size == n * n:
            raise Hint(f"for {n} atoms you returned {n * n} numbers: that is the whole distance matrix, with "
                       "the zero self-distances and every pair twice. Keep each pair i < j once.")
        if got.size == n * (n - 1):
            raise Hint(f"for {n} atoms you returned {n * (n - 1)} distances: each pair appears twice "
                       "(i-j and j-i). Keep i < j only, e.g. with np.triu_indices(n, 1).")
        if got.size != expected.size:
            raise Hint(f"for {n} atoms expected {expected.size} distances (n(n-1)/2), got {got.size}.")
        if _close(np.sort(got), expected) and not _close(got, expected):
            raise Hint("right distances, but not sorted: without sorting, swapping two atoms changes the "
                       "vector, so it is not permutation invariant. Sort them.")
        if not _close(got, expected, rtol=1e-10):
            raise Hint(f"the distances of a {n}-atom test cluster differ from the expected ones by up to "
                       f"{np.abs(got - expected).max():.3g} Å.")
    ok("sorted pair distances: invariant under translation, rotation and permutation, but their number "
       "grows as n², and they do not tell you which atom has which environment.")


def is_translation_invariant(fn) -> None:
    """Exercise 03.2: a property test must pass an invariant descriptor and FAIL a non-invariant one."""
    from ase.build import molecule

    atoms = molecule("CH3CH2OH")

    def distances_to_others(a):  # invariant
        return np.sort(a.get_all_distances(), axis=1)

    def raw_positions(a):  # not invariant
        return a.positions.copy()

    def y_and_z(a):  # invariant for shifts along x only
        return a.positions[:, 1:].copy()

    def first_atom_x_offset(a):  # invariant for diagonal shifts only: uses x - y
        return (a.positions[:, 0] - a.positions[:, 1])[:, None]

    if fn(distances_to_others, atoms) is not True:
        raise Hint("your test rejects sorted interatomic distances, which ARE translation invariant. "
                   "Compare features before and after the shift with np.allclose, not exact equality.")
    if fn(raw_positions, atoms) is not False:
        raise Hint("your test accepts the raw positions, which change when the molecule moves: a test that "
                   "cannot fail proves nothing. Return False when the features change.")
    if fn(y_and_z, atoms) is not False or fn(first_atom_x_offset, atoms) is not False:
        raise Hint("your test passes a descriptor that is invariant only for some directions of the shift. "
                   "Shift along a general direction, e.g. a random vector, not along one axis or the diagonal.")
    ok("your property test accepts an invariant descriptor and rejects three non-invariant ones.")


def smooth_coordination(fn) -> None:
    """Exercise 03.3: per-atom smooth coordination Σ_j f_c(r_ij), the ACSF G1."""
    from minnp.descriptors import ACSF

    for atoms in _random_clusters(4, sizes=(4, 9)):
        for r_cut in (3.0, 4.5):
            expected = ACSF(species=["Ar"], r_cut=r_cut).create(atoms)[:, 0]
            got = np.asarray(fn(atoms, r_cut), dtype=float).ravel()
            if got.shape != expected.shape:
                raise Hint(f"return one number per atom: expected shape {expected.shape}, got {got.shape}.")
            d = atoms.get_all_distances()
            hard = ((d < r_cut) & (d > 0)).sum(axis=1)
            if _close(got, hard):
                raise Hint("that is the plain neighbour count: it jumps by 1 when an atom crosses r_cut. "
                           "Weigh each neighbour with f_c(r) = ½(cos(π r / r_cut) + 1).")
            if _close(got, expected + 1):
                raise Hint("every value is 1 too large: the atom itself (r = 0, f_c = 1) is not its own neighbour.")
            if not _close(got, expected, rtol=1e-8):
                raise Hint(f"for r_cut = {r_cut} Å expected {np.round(expected, 4).tolist()}, got "
                           f"{np.round(got, 4).tolist()}. Count pairs with 0 < r < r_cut only.")
    ok("Σ_j f_c(r_ij) is smooth and invariant: it is exactly ACSF's G1 (notebook 04).")


# ---------------------------------------------------------------------------------------------
# 04 acsf
# ---------------------------------------------------------------------------------------------

def g2_by_hand(fn) -> None:
    """Exercise 04.1: G2 of one atom of a cluster, Σ_j exp(-η (r_ij - R_s)²) f_c(r_ij)."""
    from minnp.descriptors import ACSF

    for atoms in _random_clusters(5, sizes=(6, 10)):
        for eta, r_s, r_cut in [(0.5, 0.0, 4.0), (2.0, 2.5, 5.0)]:
            expected = ACSF(species=["Ar"], r_cut=r_cut, g2_params=[[eta, r_s]]).create(atoms, centers=[0])[0, 1]
            got = float(fn(atoms, 0, eta, r_s, r_cut))
            d = np.linalg.norm(atoms.positions[1:] - atoms.positions[0], axis=1)
            inside = d < r_cut
            if _close(got, np.exp(-eta * (d[inside] - r_s) ** 2).sum()):
                raise Hint("you left out the cutoff function: multiply each term by f_c(r) = ½(cos(π r/r_cut) + 1).")
            if _close(got, expected + np.exp(-eta * r_s**2)):
                raise Hint("the atom itself crept in (r = 0): sum over the other atoms j ≠ i only.")
            if _close(got, np.sum(np.exp(-eta * (d[inside] ** 2 - r_s**2) ** 2) * 0.5 * (np.cos(np.pi * d[inside] / r_cut) + 1))):
                raise Hint("the Gaussian is in (r - R_s)², not (r² - R_s²)².")
            if not _close(got, expected, rtol=1e-8):
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


# ---------------------------------------------------------------------------------------------
# 05 soap
# ---------------------------------------------------------------------------------------------

def soap_n_features(fn) -> None:
    """Exercise 05.1: (S n_max)(S n_max + 1)/2 · (l_max + 1) SOAP features without compression."""
    from minnp.descriptors import SOAP

    elements = ["H", "C", "O", "Si"]
    for n_species, n_max, l_max in ((1, 8, 6), (3, 4, 4), (2, 12, 12), (4, 1, 0)):
        expected = SOAP(elements[:n_species], r_cut=5.0, n_max=n_max, l_max=l_max).get_number_of_features()
        got = int(fn(n_species, n_max, l_max))
        size = n_species * n_max
        where = f"for {n_species} species, n_max = {n_max}, l_max = {l_max}"
        if got == expected:
            continue
        if got == size * (size + 1) // 2 * l_max:
            raise Hint(f"{where} you gave {got}: l runs from 0 to l_max, that is l_max + 1 values.")
        if got == size * size * (l_max + 1):
            raise Hint(f"{where} you gave {got}: p[(Z1,n), (Z2,n')] = p[(Z2,n'), (Z1,n)], so each pair "
                       "is stored once: the upper triangle of the (S·n_max) × (S·n_max) matrix, diagonal "
                       "included.")
        if got == size * (size - 1) // 2 * (l_max + 1):
            raise Hint(f"{where} you gave {got}: the diagonal (same element, n = n') is a feature too.")
        if got == n_species * n_max * (n_max + 1) // 2 * (l_max + 1) and n_species > 1:
            raise Hint(f"{where} you gave {got}: that is compression 'crossover' (same-element blocks only); "
                       "without compression the cross-element blocks Z1 ≠ Z2 count too.")
        raise Hint(f"{where} SOAP has {expected} features, you gave {got}. Per l, count the pairs "
                   "(a, b) with a ≤ b of the combined index a = (element, n).")
    ok("(S·n_max)(S·n_max + 1)/2 · (l_max + 1): one symmetric matrix over (element, n) per l.")


def soap_power_spectrum_block(fn) -> None:
    """Exercise 05.2: p_nn' = π √(8/(2l+1)) Σ_m c_nm c_n'm for one l."""
    rng = np.random.default_rng(5)
    for l in (0, 2, 5):
        c = rng.normal(size=(6, 2 * l + 1))
        expected = np.pi * np.sqrt(8 / (2 * l + 1)) * c @ c.T
        got = _answer(fn(c.copy(), l))
        if got.shape != expected.shape:
            if got.shape == (2 * l + 1, 2 * l + 1):
                raise Hint(f"for l = {l} you returned shape {got.shape}: sum over m (the columns), "
                           "c @ c.T, not over n.")
            raise Hint(f"for l = {l} the result should be (n_max, n_max) = {expected.shape}, "
                       f"got {got.shape}.")
        if _close(got, c @ c.T, rtol=1e-10):
            raise Hint("right shape and structure, but the prefactor π √(8/(2l+1)) is missing.")
        if _close(got, np.pi * np.sqrt(8 * (2 * l + 1)) * c @ c.T, rtol=1e-10) and l:
            raise Hint("the prefactor is π √(8/(2l+1)): (2l+1) divides, it does not multiply.")
        if not _close(got, expected, rtol=1e-10):
            raise Hint(f"for l = {l} your matrix differs from π √(8/(2l+1)) c cᵀ by up to "
                       f"{np.abs(got - expected).max():.3g}.")
    ok("p_nn'l = π √(8/(2l+1)) Σ_m c_nlm c_n'lm: a Gram matrix, so symmetric and rotation invariant.")


def soap_kernel(fn) -> None:
    """Exercise 05.3: K_ij = (x̂_i · ŷ_j)^ζ between the rows of X and Y."""
    rng = np.random.default_rng(6)
    X, Y = rng.uniform(0.1, 2.0, (4, 10)), rng.uniform(0.1, 2.0, (3, 10))
    X[1] *= 7.0  # rows of very different lengths: only a normalised kernel ignores them
    X_hat = X / np.linalg.norm(X, axis=1, keepdims=True)
    Y_hat = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    for zeta in (1, 2, 4):
        expected = (X_hat @ Y_hat.T) ** zeta
        got = _answer(fn(X.copy(), Y.copy(), zeta))
        if got.shape == expected.T.shape and got.shape != expected.shape:
            raise Hint(f"your kernel has shape {got.shape}: rows should follow X, columns Y "
                       f"({expected.shape}).")
        if got.shape != expected.shape:
            raise Hint(f"X (4, F) and Y (3, F) should give a (4, 3) kernel, got {got.shape}.")
        if _close(got, (X @ Y.T) ** zeta, rtol=1e-10):
            raise Hint("normalise each feature vector first (divide by its length): then K(A, A) = 1 and the "
                       "kernel compares shapes of environments, not how many neighbours they have.")
        if zeta > 1 and _close(got, X_hat @ Y_hat.T, rtol=1e-10):
            raise Hint(f"raise the normalised dot product to the power ζ (ζ = {zeta} here).")
        if not _close(got, expected, rtol=1e-10):
            raise Hint(f"for ζ = {zeta} your kernel differs from (x̂·ŷ)^ζ by up to "
                       f"{np.abs(got - expected).max():.3g}.")
    if not _close(np.diag(_answer(fn(X, X, 3))), 1.0, rtol=1e-10):
        raise Hint("K(x, x) should be 1 for every x.")
    ok("K = (x̂·ŷ)^ζ: 1 for identical environments, sharper with larger ζ.")


def _answer(value) -> np.ndarray:
    """A learner's answer (NumPy, torch or nested lists) as float64 NumPy."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


# ---------------------------------------------------------------------------------------------
# 06 toy nnp
# ---------------------------------------------------------------------------------------------

def standardize(fn) -> None:
    """Exercise 06.1: scale features with the mean and std of the training atoms; constant features keep scale 1."""
    rng = np.random.default_rng(6)
    X_train = rng.normal(3.0, 2.0, (20, 8, 4))
    X_train[..., 3] = 1.5  # a feature that never varies in training
    X = rng.normal(3.5, 2.5, (6, 8, 4))
    X[..., 3] = 2.0
    atoms = X_train.reshape(-1, 4)
    mean, std = atoms.mean(axis=0), atoms.std(axis=0)
    expected = (X - mean) / np.where(std > 0, std, 1.0)
    got = _answer(fn(X_train.copy(), X.copy()))
    if got.shape != expected.shape:
        raise Hint(f"return the scaled X with its shape {expected.shape}, got {got.shape}.")
    if not np.isfinite(got).all():
        raise Hint("NaN or inf: a feature that is constant in training has standard deviation 0. "
                   "Give it a scale of 1 (np.where(std > 0, std, 1.0)).")
    own = X[..., :3].reshape(-1, 3)  # the varying features
    if _close(got[..., :3], (X[..., :3] - own.mean(axis=0)) / own.std(axis=0)):
        raise Hint("you scaled X with its own statistics: the mean and std must come from X_train only, or "
                   "the validation and test sets leak into the model.")
    cells = X_train[..., :3].mean(axis=1)  # (cells, 3) per-cell means
    if _close(got[..., :3], (X[..., :3] - cells.mean(axis=0)) / cells.std(axis=0)):
        raise Hint("those are statistics of the per-cell means; the network sees single atoms, so take the "
                   "mean and std over all training atoms: X_train.reshape(-1, F).")
    if _close(got[..., :3], expected[..., :3]) and not _close(got[..., 3], expected[..., 3]):
        raise Hint(f"the constant feature should become (2.0 - 1.5) / 1 = 0.5, got {got[0, 0, 3]:.3g}: "
                   "use a scale of 1, not 0 or a tiny number.")
    if not _close(got, expected, rtol=1e-8, atol=1e-10):
        raise Hint("not (X - mean) / std with the mean and (population) std of every atom in X_train, per feature.")
    ok("features scaled with training statistics only; a constant feature stays finite.")


def seeded_split(fn) -> None:
    """Exercise 06.2: disjoint, complete, shuffled, reproducible index parts."""
    for n, fractions in [(100, (0.7, 0.15, 0.15)), (37, (0.8, 0.2))]:
        parts = [np.asarray(p) for p in fn(n, fractions, 0)]
        if len(parts) != len(fractions):
            raise Hint(f"{len(fractions)} fractions should give {len(fractions)} parts, got {len(parts)}.")
        together = np.concatenate(parts)
        if len(np.unique(together)) < len(together):
            raise Hint("an index appears in two parts: that is exactly the leak we are avoiding. "
                       "Cut one shuffled order into consecutive pieces.")
        if sorted(together.tolist()) != list(range(n)):
            raise Hint(f"the parts must together hold every index 0..{n - 1} exactly once.")
        for part, fraction in zip(parts, fractions):
            if abs(len(part) - fraction * n) > 1:
                raise Hint(f"n = {n}, fractions {fractions}: part sizes {[len(p) for p in parts]}, "
                           f"expected about {[round(f * n) for f in fractions]}.")
        if np.array_equal(together, np.arange(n)):
            raise Hint("the indices are not shuffled: consecutive MD frames would all land in one part.")
        again = [np.asarray(p) for p in fn(n, fractions, 0)]
        if not all(np.array_equal(a, b) for a, b in zip(parts, again)):
            raise Hint("the same seed gave another split: draw from np.random.default_rng(seed), not np.random.")
        other = [np.asarray(p) for p in fn(n, fractions, 1)]
        if all(np.array_equal(a, b) for a, b in zip(parts, other)):
            raise Hint("seeds 0 and 1 gave the same split: is the seed used?")
    ok("disjoint, complete, shuffled and reproducible: every number you report can be regenerated.")


# ---------------------------------------------------------------------------------------------
# 07 hdnnp
# ---------------------------------------------------------------------------------------------

def reference_energies(fn) -> None:
    """Exercise 07.1: per-element reference energies, least squares of total energies on element counts."""
    counts = np.array([[2, 1], [4, 2], [2, 2], [6, 1], [3, 3], [8, 4]], dtype=float)  # (structures, elements)
    truth = np.array([-13.6, -430.0])
    energies = counts @ truth + np.array([0.3, -0.2, 0.1, 0.4, -0.3, 0.05])  # plus interaction energies
    expected, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    got = _answer(fn(counts.copy(), energies.copy())).ravel()
    if got.shape != expected.shape:
        raise Hint(f"return one energy per element, shape {expected.shape}; got {got.shape}.")
    if _close(got, np.full(2, energies.sum() / counts.sum())):
        raise Hint("that is the mean energy per atom, the same for every element; with two elements "
                   "solve counts @ e ≈ energies in the least-squares sense (np.linalg.lstsq).")
    if _close(got, truth, rtol=1e-12):
        raise Hint("these are the noiseless energies; fit the energies you were given.")
    if not _close(got, expected, rtol=1e-8):
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
    got = _answer(fn(dE_dG.clone(), jacobian.clone(), i.clone(), j.clone(), n_atoms))
    if got.shape != expected.shape:
        raise Hint(f"return forces of shape (n_atoms, 3) = {expected.shape}, got {got.shape}.")
    if _close(got, -expected):
        raise Hint("the sign is flipped: forces are -∂E/∂x, and r_p = x_j - x_i, so the centre i gains +∂E/∂r_p.")
    if _close(got, on_centre) or _close(got, -on_neighbour):
        raise Hint("only one end of each pair: r_p = x_j - x_i moves with both atoms, so add +∂E/∂r_p at the "
                   "centre i and -∂E/∂r_p at the neighbour j.")
    if _close(got, _pair_forces_with(dE_dG.numpy()[j.numpy()], jacobian.numpy(), i.numpy(), j.numpy(), n_atoms)):
        raise Hint("∂E/∂G must be taken at the centre i_p of each pair (the Jacobian is ∂G_{i_p}/∂r_p), not at j_p.")
    if not _close(got, expected, rtol=1e-10, atol=1e-12):
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


# ---------------------------------------------------------------------------------------------
# 08 ewald
# ---------------------------------------------------------------------------------------------

def _numbers(value) -> np.ndarray:
    """A learner's answer as float64 NumPy, whether they returned NumPy, torch or a float."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def gaussian_self_energy(fn) -> None:
    """Exercise 08.1: the self energy of a Gaussian charge, K_E q² / (2 σ √π), in eV."""
    from minnp.electrostatics import K_E

    q = np.array([1.0, -0.4, 2.0])
    sigma = np.array([0.5, 1.2, 0.8])
    expected = K_E * q**2 / (2 * sigma * np.sqrt(np.pi))
    got = _numbers(fn(q, sigma))
    if got.shape != expected.shape:
        raise Hint(f"return one self energy per charge: shape {expected.shape}, got {got.shape}.")
    if _close(got, expected / K_E):
        raise Hint("that is in e²/Å: multiply by K_E = 14.3996 eV·Å to get eV.")
    if _close(got, 2 * expected):
        raise Hint("twice too large: the self energy is ½ ∫ρφ, half the interaction of the Gaussian with its own potential.")
    if _close(got, expected * np.sqrt(np.pi)):
        raise Hint("a factor √π is missing: φ(0) = q √(2/π) / γ with γ = √2 σ for a Gaussian with itself.")
    if _close(got, expected * np.sqrt(2)):
        raise Hint("off by √2: the width of a Gaussian interacting with itself is γ_ii = √(σ² + σ²) = √2 σ, not σ.")
    if not _close(got, expected, rtol=1e-8):
        raise Hint(f"for q = {q.tolist()} and σ = {sigma.tolist()} Å expected {np.round(expected, 4).tolist()} eV, "
                   f"got {np.round(got, 4).tolist()}.")
    ok("E_self = K_E q² / (2σ√π): 14.4 eV/(2·0.5·1.77) = 8.1 eV for a unit charge of width 0.5 Å.")


def gaussian_real_space_kernel(fn) -> None:
    """Exercise 08.2: the Ewald real-space kernel of Gaussian charges, [erfc(r/√2η) - erfc(r/√2γ)]/r."""
    from scipy.special import erf, erfc

    r = np.linspace(0.5, 12.0, 40)
    for eta, gamma in [(1.5, 0.9), (0.7, 1.6)]:
        expected = (erfc(r / (np.sqrt(2) * eta)) - erfc(r / (np.sqrt(2) * gamma))) / r
        got = _numbers(fn(r, eta, gamma))
        if _close(got, erfc(r / (np.sqrt(2) * eta)) / r):
            raise Hint("that is the point-charge kernel erfc(r/√2η)/r: Gaussian charges interact through "
                       "erf(r/√2γ)/r, so subtract erfc(r/√2γ)/r as well.")
        if _close(got, -expected):
            raise Hint("the sign is flipped: the kernel is erfc(r/√2η)/r minus erfc(r/√2γ)/r.")
        if _close(got, (erfc(r / eta) - erfc(r / gamma)) / r):
            raise Hint("a √2 is missing: with σ a standard deviation the arguments are r/(√2 η) and r/(√2 γ).")
        if _close(got, (erf(r / (np.sqrt(2) * gamma)) - erf(r / (np.sqrt(2) * eta))) / r, rtol=1e-6) and not _close(
                got, expected, rtol=1e-12, atol=1e-14):
            raise Hint("right formula, but 1 - erf loses all digits at large r: write it with erfc.")
        if not _close(got, expected, rtol=1e-10, atol=1e-14):
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
        if _close(got, -expected):
            raise Hint(f"{name}: negative. The Madelung constant is positive for a stable crystal: M = -E·d/(n K_E).")
        if _close(got, expected * units_) and units_ > 1:
            raise Hint(f"{name}: {units_}x too large: divide by the number of formula units in the cell.")
        if _close(got, expected * K_E):
            raise Hint(f"{name}: divide by K_E = 14.3996 eV·Å to make it dimensionless.")
        if not _close(got, expected, rtol=1e-7):
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
    if _close(slope, -expected, rtol=1e-4):
        raise Hint("the slope has the wrong sign: ΔE is E(with vacancy) - E(perfect).")
    if not _close(slope, expected, rtol=1e-5):
        raise Hint(f"slope {slope:.3f} eV·Å, expected {expected:.3f} eV·Å (the Madelung constant of a simple "
                   "cubic lattice of charges in a background, 2.8373, times -K_E q²/2). Did you remove exactly one "
                   "Cl⁻ from the cubic 8-atom cell repeated n×n×n?")
    ok(f"ΔE = {intercept:.3f} eV - 2.8373 K_E/(2L): a charged defect sees its own images and the background "
       "(Makov & Payne, PRB 51, 4014 (1995)); ΔE∞ is the Madelung energy of the missing ion.")


# ---------------------------------------------------------------------------------------------
# 09 qeq
# ---------------------------------------------------------------------------------------------

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
        got = _answer(fn(chi, A, Q)).ravel()
        if got.shape != (2,):
            raise Hint(f"return the two charges (q1, q2), got an answer of shape {got.shape}.")
        denominator = A[0, 0] + A[1, 1] - 2 * A[0, 1]
        flipped = (Q * (A[1, 1] - A[0, 1]) - chi[1] + chi[0]) / denominator
        if _close(got, [flipped, Q - flipped], rtol=1e-8):
            raise Hint("the signs are flipped: charge flows from the atom with the smaller χ to the one with the "
                       "larger χ, which ends negative. Check χ2 - χ1 in the numerator.")
        if not _close(got.sum(), Q, atol=1e-9):
            raise Hint(f"for Q = {Q} your charges add up to {got.sum():.4f}: set q2 = Q - q1.")
        if not _close(got, expected, rtol=1e-8, atol=1e-12):
            raise Hint(f"for χ = {np.round(chi, 3).tolist()}, Q = {Q}: expected {np.round(expected, 5).tolist()} e, "
                       f"got {np.round(got, 5).tolist()}. Did you include Q(A22 - A12)?")
    ok("two atoms: the charge is the electronegativity difference over the 'hardness of the pair' A11 + A22 - 2A12.")


def qeq_solve(fn) -> None:
    """Exercise 09.2: the bordered system [[A, 1], [1ᵀ, 0]] [q; λ] = [-χ; Q], μ = -λ."""
    rng = np.random.default_rng(90)
    for n, Q in ((5, 0.0), (3, 1.0), (7, -2.0)):
        A, chi = _spd_matrix(rng, n), rng.uniform(2.0, 9.0, n)
        q_expected, mu_expected = _bordered(A, chi, Q)
        answer = fn(A, chi, Q)
        if not (isinstance(answer, tuple) and len(answer) == 2):
            raise Hint("return two things: the charges q (n,) and μ (a number).")
        q, mu = _answer(answer[0]).ravel(), float(answer[1])
        if q.shape != (n,):
            raise Hint(f"q must have one charge per atom, shape ({n},), got {q.shape}.")
        if not _close(q.sum(), Q, atol=1e-9):
            raise Hint(f"your charges add up to {q.sum():.4f}, not Q = {Q}: the last row of the bordered system "
                       "is the constraint Σq = Q (ones, and Q on the right-hand side).")
        if _close(q, -q_expected, atol=1e-9) and Q == 0:
            raise Hint("the charges have the wrong sign: the right-hand side is -χ, not χ.")
        if not _close(q, q_expected, rtol=1e-8, atol=1e-12):
            raise Hint(f"for n = {n}, Q = {Q} the charges differ from the solution (largest difference "
                       f"{np.abs(q - q_expected).max():.3g} e). Build [[A, 1], [1ᵀ, 0]] and solve it with [-χ; Q].")
        if _close(mu, -mu_expected, rtol=1e-8):
            raise Hint("μ has the wrong sign: the first rows read A q + λ = -χ, so μ = χ_i + (A q)_i = -λ.")
        if not _close(mu, mu_expected, rtol=1e-8):
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
        if _close(got, -expected):
            raise Hint("the sign is flipped: return (far-end charge in C10H3+) minus (far-end charge in C10H2).")
        if _close(got, 0.0, atol=1e-9):
            raise Hint("you got zero: did the cation keep its total charge? qeq reads it from atoms.info['charge'].")
        if not _close(got, expected, rtol=1e-6):
            raise Hint(f"with J x {scale}: expected {expected:+.4f} e, got {got:+.4f} e. Sum the charges of the "
                       "atoms far_end(chain) returns, after minus before.")
    ok(f"the far end gains {expected:+.3f} e with J halved: softer atoms let the charge spread further.")


# ---------------------------------------------------------------------------------------------
# 10 fourth generation
# ---------------------------------------------------------------------------------------------

def best_charge_blind_rmse(fn) -> None:
    """Exercise 10.1: predicting the mean of both charge states leaves RMSE = sqrt(mean(((E+ - E-)/2n)²))."""
    rng = np.random.default_rng(10)
    e_plus = rng.normal(-307.5, 0.5, 50)
    e_minus = e_plus - rng.normal(17.6, 0.4, 50)
    expected = float(np.sqrt(np.mean(((e_plus - e_minus) / 2 / 3) ** 2)))
    got = float(fn(e_plus, e_minus, 3))
    if _close(got, 2 * expected):
        raise Hint("twice too large: the best single prediction is the mean of the two energies, "
                   "so each one is off by HALF the gap.")
    if _close(got, 3 * expected):
        raise Hint("per structure, not per atom: divide the energies by the number of atoms.")
    if _close(got, float(np.mean(np.abs(e_plus - e_minus))) / 6):
        raise Hint("that is the mean absolute error; the RMSE squares the errors first, then takes the root of the mean.")
    if not _close(got, expected, rtol=1e-6):
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
    got = _answer(fn(charges.copy(), structure.copy(), total.copy())).ravel()
    if got.shape != charges.shape:
        raise Hint(f"return one charge per atom, shape {charges.shape}, got {got.shape}.")
    got_sums = np.bincount(structure, weights=got)
    if _close(got, charges + (total.sum() - charges.sum()) / len(charges)):
        raise Hint("you spread the excess of the whole batch over all atoms; do it per structure "
                   "(np.bincount(structure, weights=charges) gives the sum of each).")
    if not _close(got_sums, total, atol=1e-9):
        raise Hint(f"the structures' charges sum to {np.round(got_sums, 4).tolist()}, expected {total.tolist()}.")
    if not _close(got, expected, atol=1e-12):
        raise Hint("the sums are right but the charges are not: shift every atom of a structure by the same "
                   "amount, (Q - Σq)/n, so that differences between atoms stay as the network predicted them.")
    ok("total charges restored; note that an even shift cannot move charge from one end of a molecule to the other.")


def charge_state_gap(fn, model, atoms) -> None:
    """Exercise 10.3: E(Q=-1) - E(Q=+1) from the model for one geometry."""
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
    if _close(got, -expected):
        raise Hint("the sign is flipped: return E(Q = -1) minus E(Q = +1).")
    if _close(got, 0.0, atol=1e-9):
        raise Hint("zero: both calls saw the same total charge. Set atoms.info['charge'] on a copy before "
                   "atoms_to_batch, which reads it from there.")
    if not _close(got, expected, rtol=1e-6):
        raise Hint(f"expected {expected:.4f} eV from this model, got {got:.4f}.")
    ok(f"E(Ag3-) - E(Ag3+) = {expected:.2f} eV from the model at this geometry (GFN2-xTB: about -17.6 eV).")
