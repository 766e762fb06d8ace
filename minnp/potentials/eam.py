"""The embedded-atom method in torch: LAMMPS' tabulated EAM exactly, and Zhou et al.'s analytic EAM.

Notebook 01 derives it, plots F, ρ and φ, and computes lattice, elastic and defect properties.

An atom's energy is the energy of embedding it in the electron density its neighbours
create, plus a pair repulsion (Daw & Baskes, PRB 29, 6443 (1984)):

    E_i = F_a(ρ_i) + ½ Σ_{j≠i} φ_ab(r_ij),      ρ_i = Σ_{j≠i} f_b(r_ij)

with a, b the elements of atoms i and j. F is the embedding function, f the density an atom
of element b puts at distance r, φ the pair potential.

:class:`EAM` holds the three functions as tables, read from DYNAMO/LAMMPS files with
:meth:`EAM.from_file` and evaluated the way LAMMPS' ``pair_style eam`` and ``eam/alloy`` do:

- setfl (``.eam.alloy``): F, f per element and r·φ per pair of elements on uniform grids.
- funcfl (``.eam``, one element per file): F, f and an effective charge Z(r); LAMMPS builds
  r·φ = 27.2·0.529·Z_a(r) Z_b(r) (its rounded Hartree·Bohr, not the exact 14.3996 eV·Å) and
  drops each table's last node. Several funcfl files combine into an alloy that way.
- Each table becomes a cubic spline whose node slopes are LAMMPS' 5-point finite differences;
  r·φ is splined, not φ. The index is m = int(x/Δ) clamped to the table, the fraction p ≤ 1.
- Above the table's ρ_max, F continues linearly with slope F'(ρ_max).

:class:`ZhouEAM` writes the functions of Zhou, Johnson & Wadley, PRB 69, 144113 (2004) in
closed form for 16 metals (Cu, Ag, Au, Ni, Pd, Pt, Al, Pb, Fe, Mo, Ta, W, Mg, Co, Ti, Zr) and
any alloy of them, so the course needs no third-party file; ``write_setfl`` tabulates it for
LAMMPS. Forces and stress of both come from autograd (:mod:`minnp.calculator`).
"""

from __future__ import annotations

import copy
import math
import pathlib
from typing import NamedTuple, Sequence

import numpy as np
import torch
from ase.data import atomic_masses, chemical_symbols, reference_states

from minnp.batch import Batch, atomic_numbers, check_species

Tensor = torch.Tensor

HARTREE_BOHR_LAMMPS = 27.2 * 0.529  # eV·Å; LAMMPS' funcfl constant for r·φ = 27.2·0.529·Z_a Z_b


# --- the EAM energy, written once for tables and formulas ---------------------------------------

def eam_energies(batch: Batch, r_cut: float, type_of: Tensor, embedding, density, pair) -> Tensor:
    """Per-atom EAM energies E_i = F(ρ_i) + ½ Σ_j φ(r_ij), (N,).

    ``embedding(rho, t)``, ``density(r, t)`` and ``pair(r, t_i, t_j)`` evaluate F, f and φ
    for element indices t; ``type_of`` maps atomic numbers to those indices.
    """
    t = type_of[batch.numbers]  # (N,)
    nbrs = batch.neighbors(r_cut)
    r = nbrs.vectors(batch).norm(dim=1)  # (P,)
    ti, tj = t[nbrs.i], t[nbrs.j]
    zeros = torch.zeros_like(batch.positions[:, 0])  # (N,)
    rho = zeros.index_add(0, nbrs.i, density(r, tj))  # (N,) density at each atom from its neighbours
    pair_energy = zeros.index_add(0, nbrs.i, 0.5 * pair(r, ti, tj))  # the full list holds i-j and j-i
    return embedding(rho, t) + pair_energy


# --- LAMMPS' splines ----------------------------------------------------------------------------

def lammps_spline(values: np.ndarray) -> np.ndarray:
    """Cubic-spline coefficients of a uniform table, LAMMPS' ``PairEAM::interpolate``.

    Returns (..., n, 4): on interval m, y(p) = ((c0 p + c1) p + c2) p + c3 for 0 ≤ p ≤ 1.
    The slopes at the nodes (in units of the grid step) are 5-point central differences,
    (y[m-2] - y[m+2] + 8 (y[m+1] - y[m-1])) / 12, one-sided at the two ends.
    """
    y = np.asarray(values, dtype=np.float64)
    n = y.shape[-1]
    if n < 5:
        raise ValueError(f"a spline table needs at least 5 points, got {n}")
    slope = np.empty_like(y)
    slope[..., 0] = y[..., 1] - y[..., 0]
    slope[..., 1] = 0.5 * (y[..., 2] - y[..., 0])
    slope[..., n - 2] = 0.5 * (y[..., n - 1] - y[..., n - 3])
    slope[..., n - 1] = y[..., n - 1] - y[..., n - 2]
    slope[..., 2:n - 2] = ((y[..., 0:n - 4] - y[..., 4:n]) + 8.0 * (y[..., 3:n - 1] - y[..., 1:n - 3])) / 12.0
    step = y[..., 1:] - y[..., :-1]  # (..., n-1)
    c1 = np.zeros_like(y)
    c0 = np.zeros_like(y)
    c1[..., :-1] = 3.0 * step - 2.0 * slope[..., :-1] - slope[..., 1:]
    c0[..., :-1] = slope[..., :-1] + slope[..., 1:] - 2.0 * step
    return np.stack([c0, c1, slope, y], axis=-1)


def spline_value(coefficients: Tensor, element: Tensor, x: Tensor, delta: float) -> Tensor:
    """Evaluate splines ``coefficients`` (n_el, n, 4) of element ``element`` at x, as LAMMPS does.

    x/Δ + 1 = m + p: m is the 1-based interval, kept within 1..n-1, and p ≤ 1, so beyond the
    table the last node's value is returned. Autograd differentiates through p.
    """
    n = coefficients.shape[1]
    p = x * (1.0 / delta) + 1.0
    m = p.detach().floor().clamp(1, n - 1)
    p = (p - m).clamp(max=1.0)
    c = coefficients[element, m.long() - 1]  # (..., 4)
    return ((c[..., 0] * p + c[..., 1]) * p + c[..., 2]) * p + c[..., 3]


def spline_slope(coefficients: Tensor, element: Tensor, x: Tensor, delta: float) -> Tensor:
    """dy/dx of the same spline at x (LAMMPS' F'(ρ) above the table), without a graph through p."""
    n = coefficients.shape[1]
    p = x.detach() * (1.0 / delta) + 1.0
    m = p.floor().clamp(1, n - 1)
    p = (p - m).clamp(max=1.0)
    c = coefficients[element, m.long() - 1]
    return ((3.0 * c[..., 0] * p + 2.0 * c[..., 1]) * p + c[..., 2]) / delta


# --- reading DYNAMO files -----------------------------------------------------------------------

class _Reader:
    """Lines of a potential file with their numbers, so every error can name file and line."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"EAM file {str(self.path)!r} not found")
        self.lines = self.path.read_text().splitlines()
        self.number = 0  # lines consumed so far (1-based number of the last one)

    def error(self, message: str, number: int | None = None) -> ValueError:
        return ValueError(f"{self.path.name}, line {number or self.number}: {message}")

    def skip(self, n: int) -> None:
        self.number += n
        if self.number > len(self.lines):
            raise self.error("file ends inside its header")

    def words(self, what: str) -> list[str]:
        """The next non-blank line's words (``#`` starts a comment)."""
        while self.number < len(self.lines):
            self.number += 1
            words = self.lines[self.number - 1].split("#", 1)[0].split()
            if words:
                return words
        raise self.error(f"file ends where {what} was expected")

    def numbers(self, words: list[str], kinds: str, what: str) -> list:
        """Parse the first len(kinds) words as 'i'nt or 'f'loat."""
        if len(words) < len(kinds):
            raise self.error(f"expected {len(kinds)} values ({what}), found {len(words)}: {' '.join(words)!r}")
        out = []
        for word, kind in zip(words, kinds):
            try:
                out.append(int(word) if kind == "i" else float(word))
            except ValueError:
                raise self.error(f"{word!r} is not {'an integer' if kind == 'i' else 'a number'} ({what})") from None
        return out

    def table(self, n: int, what: str) -> np.ndarray:
        """n numbers that may run over several lines."""
        values: list[float] = []
        while len(values) < n:
            if self.number >= len(self.lines):
                raise self.error(f"file ends after {len(values)} of the {n} values of {what}")
            words = self.words(f"the values of {what}")
            if len(values) + len(words) > n:
                raise self.error(f"{len(values) + len(words) - n} values too many for {what} ({n} expected); "
                                 "check nrho and nr in the header")
            values += self.numbers(words, "f" * len(words), what)
        return np.array(values)


class _Funcfl(NamedTuple):
    number: int
    mass: float
    lattice_constant: float
    lattice: str
    nrho: int
    drho: float
    nr: int
    dr: float
    cut: float
    frho: np.ndarray
    zr: np.ndarray
    rhor: np.ndarray


def read_funcfl(path) -> _Funcfl:
    """A DYNAMO funcfl file: comment; Z mass a lattice; nrho drho nr dr cut; F, Z(r), ρ(r)."""
    reader = _Reader(path)
    reader.skip(1)
    words = reader.words("the line 'Z mass lattice-constant lattice'")
    number, mass = reader.numbers(words, "if", "atomic number and mass")
    if not 1 <= number < len(chemical_symbols):
        raise reader.error(f"atomic number {number} is not an element")
    a = float(words[2]) if len(words) > 2 and _is_float(words[2]) else 0.0
    lattice = words[3] if len(words) > 3 else "fcc"
    nrho, drho, nr, dr, cut = reader.numbers(reader.words("'nrho drho nr dr cut'"), "ififf", "nrho drho nr dr cut")
    _check_grid(reader, nrho, drho, nr, dr, cut)
    name = chemical_symbols[number]
    frho = reader.table(nrho, f"F(rho) of {name}")
    zr = reader.table(nr, f"Z(r) of {name}")
    rhor = reader.table(nr, f"rho(r) of {name}")
    return _Funcfl(number, mass, a, lattice, nrho, drho, nr, dr, cut, frho, zr, rhor)


def _is_float(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _check_grid(reader: _Reader, nrho, drho, nr, dr, cut) -> None:
    if nrho < 5 or nr < 5:
        raise reader.error(f"nrho = {nrho} and nr = {nr} must be at least 5")
    if not (drho > 0 and dr > 0 and cut > 0):
        raise reader.error(f"drho = {drho}, dr = {dr} and cut = {cut} must be positive")


def _regrid(values: np.ndarray, delta_file: float, n_new: int, delta_new: float) -> np.ndarray:
    """LAMMPS' 4-point Lagrange interpolation of a funcfl table onto the common grid."""
    n_file = values.shape[0]
    f = np.concatenate([[0.0], values])  # 1-based, as in LAMMPS
    m = np.arange(1, n_new + 1)
    r = (m - 1) * delta_new
    p = r / delta_file + 1.0
    k = np.maximum(np.minimum(p.astype(np.int64), n_file - 2), 2)
    p = np.minimum(p - k, 2.0)
    sixth = 1.0 / 6.0
    cof1 = -sixth * p * (p - 1.0) * (p - 2.0)
    cof2 = 0.5 * (p * p - 1.0) * (p - 2.0)
    cof3 = -0.5 * p * (p + 1.0) * (p - 2.0)
    cof4 = sixth * p * (p * p - 1.0)
    return cof1 * f[k - 1] + cof2 * f[k] + cof3 * f[k + 1] + cof4 * f[k + 2]


# --- the tabulated EAM --------------------------------------------------------------------------

class EAM(torch.nn.Module):
    """An EAM potential from tables, evaluated exactly as LAMMPS' ``pair_style eam/alloy``.

    ``EAM.from_file("Cu_u3.eam")`` gives -3.54000000 eV for fcc Cu at a = 3.615 Å, as LAMMPS does.
    ``frho`` (n_el, nrho) are F on ρ = 0, Δρ, ...; ``rhor`` (n_el, nr) the densities f and
    ``z2r`` (n_el, n_el, nr) the products r·φ on r = 0, Δr, ...; ``r_cut`` the cutoff and
    ``rho_max`` where F's linear extension starts (default: the last ρ node).
    """

    def __init__(self, species: Sequence[str], frho, rhor, z2r, drho: float, dr: float, r_cut: float,
                 rho_max: float | None = None, masses: Sequence[float] | None = None,
                 lattice_constants: Sequence[float] | None = None, lattices: Sequence[str] | None = None,
                 comment: str = ""):
        super().__init__()
        self.species = list(species)
        self.numbers = atomic_numbers(self.species)
        n_el = len(self.species)
        self.frho = np.asarray(frho, dtype=np.float64)
        self.rhor = np.asarray(rhor, dtype=np.float64)
        self.z2r = np.asarray(z2r, dtype=np.float64)
        if self.frho.ndim != 2 or self.frho.shape[0] != n_el or self.rhor.shape[0] != n_el \
                or self.z2r.shape[:2] != (n_el, n_el) or self.rhor.shape[1] != self.z2r.shape[2]:
            raise ValueError(f"table shapes frho {self.frho.shape}, rhor {self.rhor.shape}, z2r {self.z2r.shape} "
                             f"do not fit {n_el} species: expected (n_el, nrho), (n_el, nr), (n_el, n_el, nr)")
        self.drho, self.dr, self.r_cut = float(drho), float(dr), float(r_cut)
        self.nrho, self.nr = self.frho.shape[1], self.rhor.shape[1]
        self.rho_max = float(rho_max) if rho_max is not None else (self.nrho - 1) * self.drho
        self.masses = list(masses) if masses is not None else [float(atomic_masses[z]) for z in self.numbers]
        self.lattice_constants = list(lattice_constants) if lattice_constants is not None else [0.0] * n_el
        self.lattices = list(lattices) if lattices is not None else ["fcc"] * n_el
        self.comment = comment
        self.register_buffer("frho_spline", torch.from_numpy(lammps_spline(self.frho)))  # (n_el, nrho, 4)
        self.register_buffer("rhor_spline", torch.from_numpy(lammps_spline(self.rhor)))  # (n_el, nr, 4)
        self.register_buffer("z2r_spline", torch.from_numpy(  # (n_el * n_el, nr, 4), row a*n_el+b
            lammps_spline(self.z2r).reshape(n_el * n_el, self.nr, 4)))
        type_of = torch.full((119,), -1, dtype=torch.long)
        type_of[self.numbers] = torch.arange(n_el)
        self.register_buffer("type_of", type_of)

    # the three functions, for element indices t -------------------------------------------------

    def embedding(self, rho: Tensor, t: Tensor) -> Tensor:
        """F_t(ρ), continued linearly above ρ_max."""
        F = spline_value(self.frho_spline, t, rho, self.drho)
        beyond = rho > self.rho_max
        if beyond.any():
            slope = spline_slope(self.frho_spline, t, rho, self.drho)
            F = F + torch.where(beyond, slope * (rho - self.rho_max), torch.zeros_like(rho))
        return F

    def density(self, r: Tensor, t: Tensor) -> Tensor:
        """f_t(r): the density an atom of element t puts at distance r."""
        return spline_value(self.rhor_spline, t, r, self.dr)

    def pair(self, r: Tensor, ti: Tensor, tj: Tensor) -> Tensor:
        """φ(r) = (r·φ)(r) / r for elements ti, tj."""
        return spline_value(self.z2r_spline, ti * len(self.species) + tj, r, self.dr) / r

    def forward(self, batch: Batch) -> Tensor:
        check_species(batch.numbers, self.numbers, "this EAM potential")
        return eam_energies(batch, self.r_cut, self.type_of, self.embedding, self.density, self.pair)

    # files ------------------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path) -> "EAM":
        """Read a setfl (``.eam.alloy``) file, or one or several funcfl (``.eam``) files.

        Several funcfl files (a list of paths) make an alloy the way LAMMPS' ``pair_style eam``
        does with one ``pair_coeff`` per type: tables interpolated onto the largest spacing,
        r·φ_ab = 27.2·0.529·Z_a Z_b.
        """
        if isinstance(path, (list, tuple)):
            return cls._from_funcfl([read_funcfl(p) for p in path])
        name = pathlib.Path(path).name
        if name.endswith(".eam.alloy") or name.endswith(".setfl"):
            return cls._from_setfl(path)
        if name.endswith(".eam"):
            return cls._from_funcfl([read_funcfl(path)])
        raise ValueError(f"cannot tell the format of {name!r}: EAM.from_file reads setfl files ending in "
                         "'.eam.alloy' and funcfl files ending in '.eam' (Finnis-Sinclair '.eam.fs' is not supported)")

    @classmethod
    def _from_setfl(cls, path) -> "EAM":
        reader = _Reader(path)
        comment = "\n".join(reader.lines[:3])
        reader.skip(3)
        words = reader.words("the line 'N element1 element2 ...'")
        (n_el,) = reader.numbers(words, "i", "number of elements")
        species = words[1:]
        if n_el < 1 or len(species) != n_el:
            raise reader.error(f"the header names {len(species)} elements {species} but says N = {n_el}")
        try:
            atomic_numbers(species)
        except ValueError as error:
            raise reader.error(str(error)) from None
        nrho, drho, nr, dr, cut = reader.numbers(reader.words("'nrho drho nr dr cut'"), "ififf", "nrho drho nr dr cut")
        _check_grid(reader, nrho, drho, nr, dr, cut)
        frho, rhor, masses, lattice_constants, lattices = [], [], [], [], []
        for element in species:
            words = reader.words(f"the line 'Z mass lattice-constant lattice' of {element}")
            _, mass = reader.numbers(words, "if", f"atomic number and mass of {element}")
            masses.append(mass)
            lattice_constants.append(float(words[2]) if len(words) > 2 and _is_float(words[2]) else 0.0)
            lattices.append(words[3] if len(words) > 3 else "fcc")
            frho.append(reader.table(nrho, f"F(rho) of {element}"))
            rhor.append(reader.table(nr, f"rho(r) of {element}"))
        z2r = np.zeros((n_el, n_el, nr))
        for a in range(n_el):
            for b in range(a + 1):
                z2r[a, b] = z2r[b, a] = reader.table(nr, f"r*phi(r) of {species[a]}-{species[b]}")
        return cls(species, frho, rhor, z2r, drho, dr, cut, masses=masses,
                   lattice_constants=lattice_constants, lattices=lattices, comment=comment)

    @classmethod
    def _from_funcfl(cls, files: list[_Funcfl]) -> "EAM":
        species = [chemical_symbols[f.number] for f in files]
        if len(set(species)) != len(species):
            raise ValueError(f"funcfl files for the same element given twice: {species}")
        # LAMMPS' file2array: the largest spacings and ranges of all files, rounded node counts
        dr = max(f.dr for f in files)
        drho = max(f.drho for f in files)
        rmax = max((f.nr - 1) * f.dr for f in files)
        rho_max = max((f.nrho - 1) * f.drho for f in files)
        nr = int(rmax / dr + 0.5)  # one node fewer than a single file has: LAMMPS drops the last
        nrho = int(rho_max / drho + 0.5)
        frho = np.stack([_regrid(f.frho, f.drho, nrho, drho) for f in files])
        rhor = np.stack([_regrid(f.rhor, f.dr, nr, dr) for f in files])
        z = [_regrid(f.zr, f.dr, nr, dr) for f in files]
        z2r = np.zeros((len(files), len(files), nr))
        for a in range(len(files)):
            for b in range(a + 1):  # LAMMPS computes a >= b and uses it for both orders
                z2r[a, b] = z2r[b, a] = HARTREE_BOHR_LAMMPS * z[a] * z[b]
        return cls(species, frho, rhor, z2r, drho, dr, max(f.cut for f in files), rho_max=rho_max,
                   masses=[f.mass for f in files], lattice_constants=[f.lattice_constant for f in files],
                   lattices=[f.lattice for f in files], comment="converted from funcfl by minnp")

    def write_setfl(self, path, comment: str | None = None) -> None:
        """Write these tables as a setfl file, for LAMMPS' ``pair_style eam/alloy``.

        Values are written with 17 significant digits, so :meth:`from_file` reads back the same
        numbers. (A funcfl-born potential keeps its tables; only F's linear extension then starts
        at the last ρ node instead of one step beyond it.)
        """
        lines = (comment if comment is not None else self.comment or "written by minnp").splitlines()
        lines = (lines + ["", "", ""])[:3]
        lines.append(f"{len(self.species)} {' '.join(self.species)}")
        lines.append(f"{self.nrho} {self.drho!r} {self.nr} {self.dr!r} {self.r_cut!r}")
        body = []
        for a, element in enumerate(self.species):
            body.append(f"{self.numbers[a]} {self.masses[a]!r} {self.lattice_constants[a]!r} {self.lattices[a]}")
            body += _rows(self.frho[a]) + _rows(self.rhor[a])
        for a in range(len(self.species)):
            for b in range(a + 1):
                body += _rows(self.z2r[a, b])
        pathlib.Path(path).write_text("\n".join(lines + body) + "\n")

    def extra_repr(self) -> str:
        return f"species={self.species}, r_cut={self.r_cut}, nrho={self.nrho}, nr={self.nr}"


def _rows(values: np.ndarray, per_line: int = 5) -> list[str]:
    return [" ".join(f"{v:.16e}" for v in values[k:k + per_line]) for k in range(0, len(values), per_line)]


# --- Zhou, Johnson & Wadley (2004): analytic EAM ------------------------------------------------

class ZhouParameters(NamedTuple):
    """One row of Table III of Zhou, Johnson & Wadley, PRB 69, 144113 (2004)."""

    r_e: float  # Å, nearest-neighbour distance
    f_e: float
    rho_e: float
    rho_s: float
    alpha: float
    beta: float
    A: float  # eV
    B: float  # eV
    kappa: float
    lambda_: float
    F_n: tuple[float, float, float, float]  # eV, F for ρ < 0.85 ρ_e
    F: tuple[float, float, float, float]  # eV, F for 0.85 ρ_e ≤ ρ < 1.15 ρ_e
    eta: float
    F_e: float  # eV, F for ρ ≥ 1.15 ρ_e


ZHOU_2004 = {  # Table III of the paper (F_1 = 0 for every element)
    "Cu": ZhouParameters(2.556162, 1.554485, 21.175871, 21.175395, 8.127620, 4.334731, 0.396620, 0.548085,
                         0.308782, 0.756515, (-2.170269, -0.263788, 1.088878, -0.817603),
                         (-2.19, 0.0, 0.561830, -2.100595), 0.310490, -2.186568),
    "Ag": ZhouParameters(2.891814, 1.106232, 14.604100, 14.604144, 9.132010, 4.870405, 0.277758, 0.419611,
                         0.339710, 0.750758, (-1.729364, -0.255882, 0.912050, -0.561432),
                         (-1.75, 0.0, 0.744561, -1.150650), 0.783924, -1.748423),
    "Au": ZhouParameters(2.885034, 1.529021, 19.991632, 19.991509, 9.516052, 5.075228, 0.229762, 0.356666,
                         0.356570, 0.748798, (-2.937772, -0.500288, 1.601954, -0.835530),
                         (-2.98, 0.0, 1.706587, -1.134778), 1.021095, -2.978815),
    "Ni": ZhouParameters(2.488746, 2.007018, 27.562015, 27.562031, 8.383453, 4.471175, 0.429046, 0.633531,
                         0.443599, 0.820658, (-2.693513, -0.076445, 0.241442, -2.375626),
                         (-2.70, 0.0, 0.265390, -0.152856), 0.445470, -2.7),
    "Pd": ZhouParameters(2.750897, 1.595417, 21.335246, 21.940073, 8.697397, 4.638612, 0.406763, 0.598880,
                         0.397263, 0.754799, (-2.321006, -0.473983, 1.615343, -0.231681),
                         (-2.36, 0.0, 1.481742, -1.675615), 1.130000, -2.352753),
    "Pt": ZhouParameters(2.771916, 2.336509, 33.367564, 35.205357, 7.105782, 3.789750, 0.556398, 0.696037,
                         0.385255, 0.770510, (-1.455568, -2.149952, 0.528491, 1.222875),
                         (-4.17, 0.0, 3.010561, -2.420128), 1.450000, -4.145597),
    "Al": ZhouParameters(2.863924, 1.403115, 20.418205, 23.195740, 6.613165, 3.527021, 0.314873, 0.365551,
                         0.379846, 0.759692, (-2.807602, -0.301435, 1.258562, -1.247604),
                         (-2.83, 0.0, 0.622245, -2.488244), 0.785902, -2.824528),
    "Pb": ZhouParameters(3.499723, 0.647872, 8.450154, 8.450063, 9.121799, 5.212457, 0.161219, 0.236884,
                         0.250805, 0.764955, (-1.422370, -0.210107, 0.682886, -0.529378),
                         (-1.44, 0.0, 0.702726, -0.538766), 0.935380, -1.439436),
    "Fe": ZhouParameters(2.481987, 1.885957, 20.041463, 20.041463, 9.818270, 5.236411, 0.392811, 0.646243,
                         0.170306, 0.340613, (-2.534992, -0.059605, 0.193065, -2.282322),
                         (-2.54, 0.0, 0.200269, -0.148770), 0.391750, -2.539945),
    "Mo": ZhouParameters(2.728100, 2.723710, 29.354065, 29.354065, 8.393531, 4.476550, 0.708787, 1.120373,
                         0.137640, 0.275280, (-3.692913, -0.178812, 0.380450, -3.133650),
                         (-3.71, 0.0, 0.875874, 0.776222), 0.790879, -3.712093),
    "Ta": ZhouParameters(2.860082, 3.086341, 33.787168, 33.787168, 8.489528, 4.527748, 0.611679, 1.032101,
                         0.176977, 0.353954, (-5.103845, -0.405524, 1.112997, -3.585325),
                         (-5.14, 0.0, 1.640098, 0.221375), 0.848843, -5.141526),
    "W": ZhouParameters(2.740840, 3.487340, 37.234847, 37.234847, 8.900114, 4.746728, 0.882435, 1.394592,
                        0.139209, 0.278417, (-4.946281, -0.148818, 0.365057, -4.432406),
                        (-4.96, 0.0, 0.661935, 0.348147), 0.582714, -4.961306),
    "Mg": ZhouParameters(3.196291, 0.544323, 7.132600, 7.132600, 10.228708, 5.455311, 0.137518, 0.225930,
                         0.5, 1.0, (-0.896473, -0.044291, 0.162232, -0.689950),
                         (-0.90, 0.0, 0.122838, -0.226010), 0.431425, -0.899702),
    "Co": ZhouParameters(2.505979, 1.975299, 27.206789, 27.206789, 8.679625, 4.629134, 0.421378, 0.640107,
                         0.5, 1.0, (-2.541799, -0.219415, 0.733381, -1.589003),
                         (-2.56, 0.0, 0.705845, -0.687140), 0.694608, -2.559307),
    "Ti": ZhouParameters(2.933872, 1.863200, 25.565138, 25.565138, 8.775431, 4.680230, 0.373601, 0.570968,
                         0.5, 1.0, (-3.203773, -0.198262, 0.683779, -2.321732),
                         (-3.22, 0.0, 0.608587, -0.750710), 0.558572, -3.219176),
    "Zr": ZhouParameters(3.199978, 2.230909, 30.879991, 30.879991, 8.559190, 4.564902, 0.424667, 0.640054,
                         0.5, 1.0, (-4.485793, -0.293129, 0.990148, -3.202516),
                         (-4.51, 0.0, 0.928602, -0.981870), 0.597133, -4.509025),
}


class ZhouEAM(torch.nn.Module):
    """The analytic EAM of Zhou, Johnson & Wadley, PRB 69, 144113 (2004), for metals and alloys.

        f(r) = f_e exp[-β(r/r_e - 1)] / (1 + (r/r_e - λ)^20)
        φ(r) = A exp[-α(r/r_e - 1)] / (1 + (r/r_e - κ)^20) - B exp[-β(r/r_e - 1)] / (1 + (r/r_e - λ)^20)
        F(ρ) = Σ_i F_ni (ρ/ρ_n - 1)^i          ρ < ρ_n = 0.85 ρ_e
             = Σ_i F_i (ρ/ρ_e - 1)^i           ρ_n ≤ ρ < ρ_0 = 1.15 ρ_e
             = F_e [1 - ln (ρ/ρ_s)^η] (ρ/ρ_s)^η    ρ_0 ≤ ρ
        φ_ab(r) = ½ [f_b(r)/f_a(r) φ_aa(r) + f_a(r)/f_b(r) φ_bb(r)]      (alloys)

    The 1/(1 + x^20) factors switch the functions off smoothly past a few neighbour shells;
    the default cutoff, 2.5 r_e of the largest element, truncates them where they are below
    ~10⁻⁷ of their value at r_e (Cu: 3·10⁻⁸ eV/atom). ``parameters`` adds or replaces rows of
    :data:`ZHOU_2004`.

    >>> from ase.build import bulk
    >>> from minnp import Calculator
    >>> cu = bulk("Cu", "fcc", a=3.615)
    >>> cu.calc = Calculator(ZhouEAM(["Cu"]))
    >>> round(cu.get_potential_energy(), 4)
    -3.54
    """

    def __init__(self, species: Sequence[str] = ("Cu",), r_cut: float | None = None,
                 parameters: dict[str, ZhouParameters] | None = None):
        super().__init__()
        self.species = list(species)
        self.numbers = atomic_numbers(self.species)
        table = {**ZHOU_2004, **(parameters or {})}  # your own rows replace or extend the paper's
        unknown = [s for s in self.species if s not in table]
        if unknown:
            raise ValueError(f"no Zhou 2004 parameters for {unknown}; available: {list(table)} "
                             "(or pass parameters={symbol: ZhouParameters(...)})")
        rows = [table[s] for s in self.species]
        self.rows = rows
        self.r_cut = float(r_cut) if r_cut is not None else 2.5 * max(p.r_e for p in rows)

        def column(values):
            return torch.tensor(values, dtype=torch.float64)

        for name in ("r_e", "f_e", "rho_e", "rho_s", "alpha", "beta", "A", "B", "kappa", "lambda_", "eta", "F_e"):
            self.register_buffer(name, column([getattr(p, name) for p in rows]))  # (n_el,)
        self.register_buffer("F_n", column([p.F_n for p in rows]))  # (n_el, 4)
        self.register_buffer("F", column([p.F for p in rows]))  # (n_el, 4)
        type_of = torch.full((119,), -1, dtype=torch.long)
        type_of[self.numbers] = torch.arange(len(self.species))
        self.register_buffer("type_of", type_of)

    def density(self, r: Tensor, t: Tensor) -> Tensor:
        x = r / self.r_e[t]
        return self.f_e[t] * torch.exp(-self.beta[t] * (x - 1)) / (1 + (x - self.lambda_[t]) ** 20)

    def _pure_pair(self, r: Tensor, t: Tensor) -> Tensor:
        x = r / self.r_e[t]
        repulsion = self.A[t] * torch.exp(-self.alpha[t] * (x - 1)) / (1 + (x - self.kappa[t]) ** 20)
        attraction = self.B[t] * torch.exp(-self.beta[t] * (x - 1)) / (1 + (x - self.lambda_[t]) ** 20)
        return repulsion - attraction

    def pair(self, r: Tensor, ti: Tensor, tj: Tensor) -> Tensor:
        phi_i, phi_j = self._pure_pair(r, ti), self._pure_pair(r, tj)
        f_i, f_j = self.density(r, ti), self.density(r, tj)
        return torch.where(ti == tj, phi_i, 0.5 * (f_j / f_i * phi_i + f_i / f_j * phi_j))

    def embedding(self, rho: Tensor, t: Tensor) -> Tensor:
        rho_e = self.rho_e[t]
        rho_n, rho_0 = 0.85 * rho_e, 1.15 * rho_e
        low = _cubic(self.F_n[t], rho / rho_n - 1)
        middle = _cubic(self.F[t], rho / rho_e - 1)
        y = torch.where(rho >= rho_0, rho, rho_0) / self.rho_s[t]  # keep the log's argument positive
        high = self.F_e[t] * (1 - self.eta[t] * torch.log(y)) * y ** self.eta[t]
        return torch.where(rho < rho_n, low, torch.where(rho < rho_0, middle, high))

    def forward(self, batch: Batch) -> Tensor:
        check_species(batch.numbers, self.numbers, "this EAM potential")
        return eam_energies(batch, self.r_cut, self.type_of, self.embedding, self.density, self.pair)

    def tabulate(self, nr: int = 5000, nrho: int = 5000, rho_max: float | None = None) -> EAM:
        """The same functions as LAMMPS tables (r from 0 to r_cut, ρ from 0 to ρ_max).

        ρ_max defaults to twice the largest ρ_e or 100, whichever is larger, like LAMMPS'
        ``tools/eam_database``; F continues linearly beyond it.
        """
        n_el = len(self.species)
        if rho_max is None:
            rho_max = max(100.0, 2.0 * float(self.rho_e.max()))
        here = copy.deepcopy(self).to(device="cpu", dtype=torch.float64)  # tables in float64, on any device
        r = torch.linspace(0.0, self.r_cut, nr, dtype=torch.float64)
        rho = torch.linspace(0.0, rho_max, nrho, dtype=torch.float64)
        index = [torch.full((nr,), a, dtype=torch.long) for a in range(n_el)]
        with torch.no_grad():
            frho = torch.stack([here.embedding(rho, torch.full((nrho,), a, dtype=torch.long)) for a in range(n_el)])
            rhor = torch.stack([here.density(r, index[a]) for a in range(n_el)])
            z2r = torch.stack([torch.stack([r * here.pair(r, index[a], index[b]) for b in range(n_el)])
                               for a in range(n_el)])
        masses = [float(atomic_masses[z]) for z in self.numbers]
        lattice_constants = [math.sqrt(2) * p.r_e for p in self.rows]
        lattices = [reference_states[z]["symmetry"] if reference_states[z] else "fcc" for z in self.numbers]
        comment = ("Zhou, Johnson & Wadley, Phys. Rev. B 69, 144113 (2004)\n"
                   f"tabulated by minnp: {'-'.join(self.species)}, nr = {nr}, nrho = {nrho}\n"
                   "lattice constants are sqrt(2) r_e")
        return EAM(self.species, frho.numpy(), rhor.numpy(), z2r.numpy(), drho=float(rho[1] - rho[0]),
                   dr=float(r[1] - r[0]), r_cut=self.r_cut, masses=masses, lattice_constants=lattice_constants,
                   lattices=lattices, comment=comment)

    def write_setfl(self, path, nr: int = 5000, nrho: int = 5000) -> None:
        """Tabulate (:meth:`tabulate`) and write a setfl file LAMMPS' ``eam/alloy`` reads."""
        self.tabulate(nr, nrho).write_setfl(path)

    def extra_repr(self) -> str:
        return f"species={self.species}, r_cut={self.r_cut}"


def _cubic(coefficients: Tensor, x: Tensor) -> Tensor:
    """Σ_i c_i x^i for i = 0..3, coefficients (..., 4)."""
    c = coefficients
    return ((c[..., 3] * x + c[..., 2]) * x + c[..., 1]) * x + c[..., 0]
