"""The DYNAMO/LAMMPS EAM file formats: funcfl, setfl and Finnis–Sinclair, read and written.

Notebook 01 reads and writes them; :meth:`minnp.potentials.EAM.from_file` calls the readers.
All three tabulate, on uniform grids ρ = 0, Δρ, ... and r = 0, Δr, ..., the functions of

    E_i = F_a(ρ_i) + ½ Σ_{j≠i} φ_ab(r_ij),      ρ_i = Σ_{j≠i} f_b(r_ij)   (or ρ_ba(r_ij), below)

- funcfl (``.eam``, ``pair_style eam``), one element per file: comment; ``Z mass a lattice``;
  ``nrho drho nr dr cut``; F(ρ), Z(r), f(r). LAMMPS builds r·φ_ab = 27.2·0.529·Z_a(r) Z_b(r)
  (its rounded Hartree·Bohr, not the exact 14.3996 eV·Å). Several files combine into an
  alloy: each table is moved onto the largest spacing by 4-point Lagrange interpolation, and
  each loses its last node (:func:`combine_funcfl`).
- setfl (``.eam.alloy``, ``pair_style eam/alloy``): three comment lines; ``N el_1 ... el_N``;
  ``nrho drho nr dr cut``; per element ``Z mass a lattice``, F(ρ), f(r); then r·φ_ab for
  a = 1..N, b = 1..a.
- Finnis–Sinclair (``.eam.fs``, ``pair_style eam/fs``): as setfl, but each element a lists N
  density tables ρ_ab(r), b = 1..N: the density an atom of element a puts at an atom of
  element b, so the density at atom i is ρ_i = Σ_j ρ_{b_j a_i}(r_ij) (Finnis & Sinclair,
  Phil. Mag. A 50, 45 (1984); LAMMPS' ``pair_eam_fs.cpp``).

The readers return the arguments of :class:`minnp.potentials.EAM` as a dict; the writers
(:func:`write_funcfl`, :func:`write_setfl`) take an EAM and write 17 significant digits, so
reading back gives the same numbers. Errors
name the file and the line (:mod:`minnp.potentials.potential_file`).
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import NamedTuple

import numpy as np
from ase.data import chemical_symbols

from minnp.batch import atomic_numbers
from minnp.potentials.potential_file import PotentialFile

HARTREE_BOHR_LAMMPS = 27.2 * 0.529  # eV·Å; LAMMPS' funcfl constant for r·φ = 27.2·0.529·Z_a Z_b


def _check_grid(file: PotentialFile, nrho, drho, nr, dr, cut) -> None:
    if nrho < 5 or nr < 5:
        raise file.error(f"nrho = {nrho} and nr = {nr} must be at least 5 (a spline needs 5 points)")
    if not (drho > 0 and dr > 0 and cut > 0):
        raise file.error(f"drho = {drho}, dr = {dr} and cut = {cut} must be positive")


def _element_line(file: PotentialFile, element: str) -> tuple[int, float, float, str]:
    """``Z mass lattice-constant lattice`` (the last two optional)."""
    words = file.words(f"the line 'Z mass lattice-constant lattice' of {element}")
    number, mass = file.numbers(words, "if", f"atomic number and mass of {element}")
    return number, mass, file.optional_float(words, 2), words[3] if len(words) > 3 else "fcc"


# --- funcfl -------------------------------------------------------------------------------------

class Funcfl(NamedTuple):
    """One funcfl file: element, grid and its three tables F(ρ), Z(r), f(r)."""

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


def read_funcfl(path) -> Funcfl:
    """A DYNAMO funcfl file: comment; Z mass a lattice; nrho drho nr dr cut; F, Z(r), ρ(r)."""
    file = PotentialFile(path, "EAM")
    file.skip(1)
    number, mass, a, lattice = _element_line(file, "the element")
    if not 1 <= number < len(chemical_symbols):
        raise file.error(f"atomic number {number} is not an element")
    nrho, drho, nr, dr, cut = file.numbers(file.words("'nrho drho nr dr cut'"), "ififf", "nrho drho nr dr cut")
    _check_grid(file, nrho, drho, nr, dr, cut)
    name = chemical_symbols[number]
    frho = file.table(nrho, f"F(rho) of {name}")
    zr = file.table(nr, f"Z(r) of {name}")
    rhor = file.table(nr, f"rho(r) of {name}")
    return Funcfl(number, mass, a, lattice, nrho, drho, nr, dr, cut, frho, zr, rhor)


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


def combine_funcfl(files: list[Funcfl]) -> dict:
    """One alloy from funcfl files, as LAMMPS' ``pair_style eam`` with one ``pair_coeff`` per type."""
    species = [chemical_symbols[f.number] for f in files]
    if len(set(species)) != len(species):
        raise ValueError(f"funcfl files for the same element given twice: {species}; give one file per element")
    # LAMMPS' file2array: the largest spacings and ranges of all files, rounded node counts
    dr = max(f.dr for f in files)
    drho = max(f.drho for f in files)
    rmax = max((f.nr - 1) * f.dr for f in files)
    rho_max = max((f.nrho - 1) * f.drho for f in files)
    nr = int(rmax / dr + 0.5)  # one node fewer than a single file has: LAMMPS drops the last
    nrho = int(rho_max / drho + 0.5)
    z = [_regrid(f.zr, f.dr, nr, dr) for f in files]
    z2r = np.zeros((len(files), len(files), nr))
    for a in range(len(files)):
        for b in range(a + 1):  # LAMMPS computes a >= b and uses it for both orders
            z2r[a, b] = z2r[b, a] = HARTREE_BOHR_LAMMPS * z[a] * z[b]
    return dict(species=species, frho=np.stack([_regrid(f.frho, f.drho, nrho, drho) for f in files]),
                rhor=np.stack([_regrid(f.rhor, f.dr, nr, dr) for f in files]), z2r=z2r, drho=drho, dr=dr,
                r_cut=max(f.cut for f in files), rho_max=rho_max, masses=[f.mass for f in files],
                lattice_constants=[f.lattice_constant for f in files], lattices=[f.lattice for f in files],
                comment="converted from funcfl by minnp")


def write_funcfl(eam, path, comment: str | None = None) -> None:
    """Write a one-element ``eam`` as a funcfl file, for LAMMPS' ``pair_style eam``.

    funcfl holds the effective charge Z(r), not r·φ: r·φ = 27.2·0.529·Z(r)², so Z = √(r·φ / 27.2·0.529)
    (written ≥ 0, which is all one element needs; in a funcfl alloy Z_a Z_b keeps that sign; a
    potential whose r·φ is negative anywhere, an attractive pair term, has no funcfl form: write it
    with :func:`write_setfl`). LAMMPS (and :func:`combine_funcfl`) drop a
    funcfl table's last node, so each table is written with one node more than ``eam`` holds, the
    line through its last two nodes continued; the nodes ``eam`` holds come back as they are.
    Reading a funcfl file, LAMMPS continues F linearly from one step beyond the last ρ node it
    keeps, which is where ``eam.rho_max`` is for an EAM read from funcfl; for one read from setfl
    (``rho_max`` at the last node) F differs only above the table's ρ range.
    Values have 17 significant digits: F, f and Z read back bit for bit, and r·φ = 27.2·0.529·Z²
    to a few units in the last place of the square root's rounding.
    """
    if len(eam.species) != 1:
        raise ValueError(f"a funcfl file holds one element, this potential has {len(eam.species)} "
                         f"({eam.species}): write it with write_setfl (pair_style eam/alloy) instead")
    rphi = eam.z2r[0, 0]  # (nr,)
    if (rphi < 0).any():
        r = np.flatnonzero(rphi < 0)[0] * eam.dr
        raise ValueError(f"r*phi(r) is negative at r = {r:.4g} Å (an attractive pair term), which funcfl's "
                         "r*phi = 27.2*0.529*Z(r)**2 cannot hold: write it with write_setfl (pair_style eam/alloy)")
    rhor = eam.rhor.reshape(-1)  # (nr,) one element: f(r), or the single Finnis–Sinclair ρ_aa(r)

    def one_node_more(values: np.ndarray) -> np.ndarray:
        return np.append(values, 2.0 * values[-1] - values[-2])

    text = comment if comment is not None else eam.comment
    lines = [text.splitlines()[0] if text and text.strip() else "written by minnp"]  # funcfl: one comment line
    lines.append(f"{eam.numbers[0]} {eam.masses[0]!r} {eam.lattice_constants[0]!r} {eam.lattices[0]}")
    lines.append(f"{eam.nrho + 1} {eam.drho!r} {eam.nr + 1} {eam.dr!r} {eam.r_cut!r}")
    lines += _rows(one_node_more(eam.frho[0]))
    lines += _rows(one_node_more(np.sqrt(rphi / HARTREE_BOHR_LAMMPS)))
    lines += _rows(one_node_more(rhor))
    write_text_atomically(path, "\n".join(lines) + "\n")


# --- setfl and Finnis–Sinclair ------------------------------------------------------------------

def read_setfl(path, finnis_sinclair: bool = False) -> dict:
    """A setfl (``.eam.alloy``) file, or with ``finnis_sinclair`` an ``.eam.fs`` file.

    ``rhor`` comes out as (N, nr) for setfl and (N, N, nr) for Finnis–Sinclair, where
    ``rhor[a, b]`` is the density an atom of element a puts at an atom of element b.
    """
    file = PotentialFile(path, "EAM")
    file.skip(3)
    comment = "\n".join(file.text(k) for k in (1, 2, 3))
    words = file.words("the line 'N element1 element2 ...'")
    (n_el,) = file.numbers(words[:1], "i", "number of elements")
    species = words[1:]
    if n_el < 1 or len(species) != n_el:
        raise file.error(f"the header names {len(species)} elements {species} but says N = {n_el}")
    try:
        atomic_numbers(species)
    except ValueError as error:
        raise file.error(str(error)) from None
    twice = sorted({s for s in species if species.count(s) > 1})
    if twice:
        raise file.error(f"the header names {', '.join(twice)} more than once ({' '.join(words)}); each element "
                         "has one block of tables, so list each element once and set N to their number")
    nrho, drho, nr, dr, cut = file.numbers(file.words("'nrho drho nr dr cut'"), "ififf", "nrho drho nr dr cut")
    _check_grid(file, nrho, drho, nr, dr, cut)
    frho, rhor, masses, lattice_constants, lattices = [], [], [], [], []
    for element in species:
        _, mass, a, lattice = _element_line(file, element)
        masses.append(mass)
        lattice_constants.append(a)
        lattices.append(lattice)
        frho.append(file.table(nrho, f"F(rho) of {element}"))
        if finnis_sinclair:
            rhor.append([file.table(nr, f"rho(r) of {element} at {other}") for other in species])
        else:
            rhor.append(file.table(nr, f"rho(r) of {element}"))
    z2r = np.zeros((n_el, n_el, nr))
    for a in range(n_el):
        for b in range(a + 1):
            z2r[a, b] = z2r[b, a] = file.table(nr, f"r*phi(r) of {species[a]}-{species[b]}")
    return dict(species=species, frho=np.array(frho), rhor=np.array(rhor), z2r=z2r, drho=drho, dr=dr, r_cut=cut,
                masses=masses, lattice_constants=lattice_constants, lattices=lattices, comment=comment)


def _rows(values: np.ndarray, per_line: int = 5) -> list[str]:
    return [" ".join(f"{v:.16e}" for v in values[k:k + per_line]) for k in range(0, len(values), per_line)]


def write_setfl(eam, path, comment: str | None = None, finnis_sinclair: bool = False) -> None:
    """Write ``eam``'s tables as setfl (``eam/alloy``) or Finnis–Sinclair (``eam/fs``) file.

    The file appears complete or not at all: it is written next to ``path`` and then moved there.
    """
    n_el = len(eam.species)
    rhor = eam.rhor if eam.rhor.ndim == 3 else np.repeat(eam.rhor[:, None], n_el, axis=1)  # (N, N, nr)
    if not finnis_sinclair and not (rhor == rhor[:, :1]).all():
        raise ValueError("this potential's densities ρ_ab depend on the element they arrive at (Finnis–Sinclair), "
                         "which a setfl file cannot hold: write it with write_fs(path) for pair_style eam/fs")
    lines = (comment if comment is not None else eam.comment or "written by minnp").splitlines()
    lines = (lines + ["", "", ""])[:3]
    lines.append(f"{n_el} {' '.join(eam.species)}")
    lines.append(f"{eam.nrho} {eam.drho!r} {eam.nr} {eam.dr!r} {eam.r_cut!r}")
    for a in range(n_el):
        lines.append(f"{eam.numbers[a]} {eam.masses[a]!r} {eam.lattice_constants[a]!r} {eam.lattices[a]}")
        lines += _rows(eam.frho[a])
        for b in range(n_el if finnis_sinclair else 1):
            lines += _rows(rhor[a, b])
    for a in range(n_el):
        for b in range(a + 1):
            lines += _rows(eam.z2r[a, b])
    write_text_atomically(path, "\n".join(lines) + "\n")


def write_text_atomically(path, text: str) -> None:
    """Write ``text`` to a temporary file in ``path``'s folder, then replace ``path`` with it."""
    path = pathlib.Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a potential file is for sharing
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
