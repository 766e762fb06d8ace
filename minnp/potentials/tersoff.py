"""Tersoff's bond-order potential in torch, exactly as LAMMPS' ``pair_style tersoff`` computes it.

Notebook 02 derives it, plots f_C, g(θ) and b_ij, and compares Si phases and carbon allotropes.

Each bond i-j has a repulsive and an attractive part; the attraction is weakened by every
other neighbour k of i through the bond order b_ij (Tersoff, PRB 37, 6991 (1988)):

    E   = Σ_i E_i,      E_i = ½ Σ_{j≠i} f_C(r_ij) [A e^(-λ1 r_ij) - b_ij B e^(-λ2 r_ij)]
    b_ij = (1 + β^n ζ_ij^n)^(-1/(2n))
    ζ_ij = Σ_{k≠i,j} f_C(r_ik) g(θ_ijk) exp[λ3^m (r_ij - r_ik)^m]
    g(θ) = γ (1 + c²/d² - c² / (d² + (cos θ - cos θ0)²))
    f_C(r) = 1 for r < R-D,  ½ - ½ sin(π/2 (r-R)/D) for R-D < r < R+D,  0 beyond.

The parameters are those of a LAMMPS ``.tersoff`` file, one entry per element triple i-j-k
(17 tokens: ``e1 e2 e3 m gamma lambda3 c d costheta0 n beta lambda2 B R D lambda1 A``). The
two-body parameters of bond i-j (n, β, λ1, λ2, A, B, and its cutoff R, D) come from entry
i-j-j; the three-body ones of the triple (m, γ, λ3, c, d, cos θ0 and the cutoff applied to
r_ik) from entry i-j-k. Tersoff's own notation converts as R_LAMMPS = (R+S)/2,
D = (S-R)/2, cos θ0 = h, λ1 = λ, λ2 = μ. Both families the format holds work: Tersoff 1988/89
(m = 3, γ = 1) and Albe/Brenner/Erhart-Albe (m = 1, γ ≠ 1).

Per-atom energies split each bond's energy evenly between its two atoms, as LAMMPS does:
E_i = ½ Σ_j ½ (V_ij + V_ji) with V_ij = f_C(r_ij)[A e^(-λ1 r_ij) - b_ij B e^(-λ2 r_ij)]. (The
E_i written above, which counts all of b_ij on atom i, is another valid partition: per-atom
energies are a convention, their sum is not.) Forces and stress come from autograd
(:mod:`minnp.calculator`); ζ_ij is summed over all ordered pairs of bonds that share a centre
(:func:`minnp.neighbors.neighbor_triples`), so nothing loops over atoms.

:func:`tersoff_energies` is that energy for parameters given per bond and per triple, so one
code serves the fixed table of element triples (:class:`Tersoff`) and parameters that vary
atom by atom (:func:`tersoff_energies_per_atom`, for the physically informed network of
notebook 12).

Named parameter sets, written here from the papers (:meth:`Tersoff.from_name`):

    "Si(B)"  Tersoff, PRB 37, 6991 (1988)          silicon, the first set
    "Si(C)"  Tersoff, PRB 38, 9902 (1988)          silicon, better elastic constants
    "Si(D)"  Tersoff, PRB 39, 5566 (1989)          silicon, as used for SiC/SiGe (λ3 = 0)
    "C"      Tersoff, PRL 61, 2879 (1988); PRB 39, 5566 (1989)   carbon
    "SiC"    Tersoff, PRB 39, 5566 (1989); erratum PRB 41, 3248 (1990)   Si(D) + C, χ = 0.9776
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence
from typing import NamedTuple

import torch

from minnp.batch import Batch, atomic_numbers, species_index
from minnp.neighbors import Neighbors, neighbor_triples
from minnp.potentials.potential_file import PotentialFile

Tensor = torch.Tensor


class TersoffEntry(NamedTuple):
    """One entry of a LAMMPS ``.tersoff`` file (the 14 numbers after the three element names)."""

    m: float
    gamma: float
    lambda3: float  # 1/Å
    c: float
    d: float
    costheta0: float  # Tersoff's h
    n: float
    beta: float
    lambda2: float  # 1/Å, Tersoff's μ
    B: float  # eV
    R: float  # Å, middle of the cutoff region, (R+S)/2 in Tersoff's notation
    D: float  # Å, half its width, (S-R)/2
    lambda1: float  # 1/Å, Tersoff's λ
    A: float  # eV


FIELDS = TersoffEntry._fields
COLUMN = {name: k for k, name in enumerate(FIELDS)}


def from_paper(A, B, lambda_, mu, beta, n, c, d, h, R, S, lambda3=0.0) -> TersoffEntry:
    """An entry from the parameters as Tersoff's papers print them (cutoff from R to S)."""
    return TersoffEntry(m=3.0, gamma=1.0, lambda3=lambda3, c=c, d=d, costheta0=h, n=n, beta=beta,
                        lambda2=mu, B=B, R=(R + S) / 2, D=(S - R) / 2, lambda1=lambda_, A=A)


# The papers' tables, in Tersoff's notation (A, B in eV; λ, μ, λ3 in 1/Å; R, S in Å).
SI_B = from_paper(A=3264.7, B=95.373, lambda_=3.2394, mu=1.3258, beta=0.33675, n=22.956,
                  c=4.8381, d=2.0417, h=0.0, R=2.8, S=3.2, lambda3=1.3258)
SI_C = from_paper(A=1830.8, B=471.18, lambda_=2.4799, mu=1.7322, beta=1.0999e-6, n=0.78734,
                  c=1.0039e5, d=16.218, h=-0.59826, R=2.7, S=3.0, lambda3=1.7322)
SI_D = from_paper(A=1830.8, B=471.18, lambda_=2.4799, mu=1.7322, beta=1.1000e-6, n=0.78734,
                  c=1.0039e5, d=16.217, h=-0.59825, R=2.7, S=3.0)
CARBON = from_paper(A=1393.6, B=346.74, lambda_=3.4879, mu=2.2119, beta=1.5724e-7, n=0.72751,
                    c=3.8049e4, d=4.3484, h=-0.57058, R=1.8, S=2.1)
CHI_SIC = 0.9776  # Tersoff 1989: the Si-C attraction is scaled by χ


def mixed(i: TersoffEntry, j: TersoffEntry, k: TersoffEntry, chi: float) -> TersoffEntry:
    """Entry i-j-k of a Tersoff 1989 mixture: i's angular terms, mixed i-j pair, i-k cutoff.

    λ and μ are arithmetic means, A, B, R, S geometric means, and B is scaled by χ (pass
    χ = 1 when i and j are the same element). The cutoff of entry i-j-k acts on r_ik, so it
    mixes i and k.
    """
    def cutoff(a, b):  # the mixed (R, S) of two elements, back in LAMMPS' (R, D)
        lo = math.sqrt((a.R - a.D) * (b.R - b.D))
        hi = math.sqrt((a.R + a.D) * (b.R + b.D))
        return (lo + hi) / 2, (hi - lo) / 2

    R_ik, D_ik = cutoff(i, k)
    return i._replace(
        lambda1=(i.lambda1 + j.lambda1) / 2, lambda2=(i.lambda2 + j.lambda2) / 2,
        A=math.sqrt(i.A * j.A), B=chi * math.sqrt(i.B * j.B), R=R_ik, D=D_ik)


def _named_sets() -> dict[str, tuple[list[str], dict]]:
    single = {"Si(B)": ("Si", SI_B), "Si(C)": ("Si", SI_C), "Si(D)": ("Si", SI_D), "C": ("C", CARBON)}
    sets = {name: ([el], {(el, el, el): entry}) for name, (el, entry) in single.items()}
    pure = {"Si": SI_D, "C": CARBON}
    sets["SiC"] = (["Si", "C"], {(a, b, c): mixed(pure[a], pure[b], pure[c], 1.0 if a == b else CHI_SIC)
                                 for a in pure for b in pure for c in pure})
    return sets


NAMED_SETS = _named_sets()


# --- the three functions of the potential -----------------------------------------------------

def cutoff_function(r: Tensor, R: Tensor, D: Tensor) -> Tensor:
    """f_C(r): 1 inside R-D, a half sine wave down to 0 at R+D, 0 beyond."""
    D_safe = torch.where(D > 0, D, torch.ones_like(D))  # D = 0 is a hard cutoff
    smooth = 0.5 - 0.5 * torch.sin(math.pi / 2 * (r - R) / D_safe)
    return torch.where(r < R - D, torch.ones_like(r), torch.where(r > R + D, torch.zeros_like(r), smooth))


def angular(cos_theta: Tensor, gamma, c, d, costheta0) -> Tensor:
    """g(θ) = γ (1 + c²/d² - c² / (d² + (cos θ - cos θ0)²)): smallest at cos θ = cos θ0."""
    c2, d2 = c * c, d * d
    return gamma * (1 + c2 / d2 - c2 / (d2 + (cos_theta - costheta0) ** 2))


def bond_order(zeta: Tensor, beta, n) -> Tensor:
    """b_ij = (1 + (β ζ)^n)^(-1/(2n)), and exactly 1 where β ζ is negligible.

    LAMMPS returns 1 for βζ < (2n·10⁻¹⁶)^(1/n) (its other asymptotic branches differ from this
    formula by ~10⁻¹⁶ relative). Keeping that branch also keeps the derivative finite at ζ = 0,
    a bond without neighbours, where d(ζ^n)/dζ diverges for n < 1.
    """
    x = beta * zeta
    negligible = x < (2 * n * 1e-16) ** (1 / n)
    x = torch.where(negligible, torch.ones_like(x), x)  # a safe value for the unused branch
    b = (1 + x**n) ** (-1 / (2 * n))
    return torch.where(negligible, torch.ones_like(b), b)


# --- reading LAMMPS files -----------------------------------------------------------------------

def read_lammps_entries(path) -> dict[tuple[str, str, str], TersoffEntry]:
    """All entries of a LAMMPS ``.tersoff`` file, keyed by the three names as written.

    ``#`` starts a comment; an entry may continue over several lines (17 tokens in all).
    Errors name the file and the line.
    """
    file = PotentialFile(path, "Tersoff")
    entries: dict[tuple[str, str, str], TersoffEntry] = {}
    tokens: list[str] = []
    start = 0
    for number in range(1, len(file.lines) + 1):
        words = file.line_words(number)
        if not words:
            continue
        if not tokens:
            start = number
        tokens += words
        if len(tokens) < 17:
            continue
        where = f"{file.path.name}, line {start}" + (f"-{number}" if number != start else "")
        if len(tokens) > 17:
            raise ValueError(f"{where}: entry has {len(tokens)} values, expected 17 "
                             f"(e1 e2 e3 {' '.join(FIELDS)})")
        names = tuple(tokens[:3])
        values = [file.value(t, "f", f"{name} of entry {' '.join(names)}", number)
                  for t, name in zip(tokens[3:], FIELDS)]
        entry = TersoffEntry(*values)
        _check_entry(entry, where)
        if names in entries:
            raise ValueError(f"{where}: duplicate entry for {' '.join(names)}")
        entries[names] = entry
        tokens = []
    if tokens:
        raise ValueError(f"{file.path.name}, line {start}: file ends inside an entry "
                         f"({len(tokens)} of 17 values)")
    if not entries:
        raise ValueError(f"{file.path.name}: no Tersoff entries found")
    return entries


def _check_entry(e: TersoffEntry, where: str) -> None:
    """LAMMPS' own checks of an entry, with the parameter named."""
    if e.m not in (1.0, 3.0):
        raise ValueError(f"{where}: m = {e.m:g}, but only m = 3 (Tersoff) or m = 1 (Albe/Brenner) exist")
    for name in ("gamma", "c", "d", "n", "beta", "lambda2", "B", "R", "D", "lambda1", "A"):
        if getattr(e, name) < 0:
            raise ValueError(f"{where}: {name} = {getattr(e, name):g} must not be negative")
    if e.D > e.R:
        raise ValueError(f"{where}: D = {e.D:g} is larger than R = {e.R:g} (the cutoff region R±D must start above 0)")


# --- the energy, for parameters chosen per bond and per triple --------------------------------

def tersoff_energies(batch: Batch, nbrs: Neighbors, bond: Tensor, repulsion: Tensor, triple) -> Tensor:
    """Per-atom Tersoff energies (N,) in the batch's dtype, whatever chose the parameters.

    ``bond`` (P, 14) holds, for each pair i-j of ``nbrs``, the parameters of its attraction
    (n, β, λ2, B and the cutoff R, D); ``repulsion`` (P, 14) those of its repulsion (A, λ1,
    R, D); ``triple(p, q)`` returns (T, 14) for the triples made of bonds p = i-j and q = i-k:
    m, γ, λ3, c, d, cos θ0 and the cutoff R, D applied to r_ik. Columns are :data:`FIELDS`.
    :class:`Tersoff` gathers them from its table of element triples; parameters that vary
    atom by atom (:func:`tersoff_energies_per_atom`) gather them from per-atom tensors.
    """
    r_vec = nbrs.vectors(batch)  # (P, 3)
    r = r_vec.norm(dim=1)  # (P,)
    R, D = bond[:, COLUMN["R"]], bond[:, COLUMN["D"]]
    is_bond = r < R + D  # (P,)

    # ζ_ij: every other neighbour k of i
    p, q = neighbor_triples(nbrs, batch.positions.shape[0])  # (T,) bonds i-j and i-k
    three = triple(p, q)  # (T, 14)
    r_p, r_q = r.index_select(0, p), r.index_select(0, q)  # (T,) r_ij, r_ik
    keep = is_bond.index_select(0, p) & (r_q < three[:, COLUMN["R"]] + three[:, COLUMN["D"]])
    if not keep.all():  # (in a one-element crystal every triple counts: nothing to copy)
        p, q, three, r_p, r_q = p[keep], q[keep], three[keep], r_p[keep], r_q[keep]
    col = {name: three[:, k] for name, k in COLUMN.items()}
    cos_theta = (r_vec.index_select(0, p) * r_vec.index_select(0, q)).sum(dim=1) / (r_p * r_q)  # (T,)
    g = angular(cos_theta, col["gamma"], col["c"], col["d"], col["costheta0"])
    x = col["lambda3"] * (r_p - r_q)
    x = torch.where(col["m"] == 3, x**3, x)
    exp_term = torch.exp(x.clamp(-69.0776, 69.0776))  # LAMMPS caps the exponent at ±69.0776 (e^±69 = 10^±30)
    zeta_terms = cutoff_function(r_q, col["R"], col["D"]) * g * exp_term  # (T,)
    zeta = torch.zeros(r.shape, dtype=zeta_terms.dtype, device=r.device).index_add(0, p, zeta_terms)  # (P,)

    b = bond_order(zeta, bond[:, COLUMN["beta"]], bond[:, COLUMN["n"]])  # (P,)
    B, lambda2 = bond[:, COLUMN["B"]], bond[:, COLUMN["lambda2"]]
    attraction = cutoff_function(r, R, D) * b * B * torch.exp(-lambda2 * r)
    R, D = repulsion[:, COLUMN["R"]], repulsion[:, COLUMN["D"]]
    A, lambda1 = repulsion[:, COLUMN["A"]], repulsion[:, COLUMN["lambda1"]]
    repulsive = cutoff_function(r, R, D) * A * torch.exp(-lambda1 * r)

    v = (torch.where(r < R + D, repulsive, torch.zeros_like(repulsive))
         - torch.where(is_bond, attraction, torch.zeros_like(attraction)))  # (P,) V_ij
    # each ordered pair's energy ½ V_ij is split evenly between its two atoms
    energies = torch.zeros_like(batch.positions[:, 0])  # (N,) in the batch's dtype
    v = v.to(energies.dtype)  # computed in the parameters' dtype
    return energies.index_add(0, nbrs.i, 0.25 * v).index_add(0, nbrs.j, 0.25 * v)


def tersoff_energies_per_atom(batch: Batch, parameters: Tensor, r_cut: float) -> Tensor:
    """Tersoff energies (N,) with parameters (N, 14) that vary atom by atom, e.g. set by a network.

    Every bond i-j, its triples i-j-k and its repulsion take the parameters of their centre
    atom i (the physically informed network of notebook 12 does this). Gradients flow into
    ``parameters``. With every row equal to one element's entry this is :class:`Tersoff`.
    """
    if parameters.shape != (batch.positions.shape[0], len(FIELDS)):
        raise ValueError(f"parameters have shape {tuple(parameters.shape)}; expected (n_atoms, {len(FIELDS)}) "
                         f"= ({batch.positions.shape[0]}, {len(FIELDS)}), columns {', '.join(FIELDS)}")
    nbrs = batch.neighbors(r_cut)
    own = parameters[nbrs.i]  # (P, 14) the centre atom's parameters for every bond
    return tersoff_energies(batch, nbrs, bond=own, repulsion=own, triple=lambda p, q: own[p])


# --- the energy module --------------------------------------------------------------------------

class Tersoff(torch.nn.Module):
    """Tersoff potential for one or more elements; per-atom energies in eV.

    >>> from ase.build import bulk
    >>> from minnp import Calculator
    >>> si = bulk("Si", "diamond", a=5.431)
    >>> si.calc = Calculator(Tersoff.from_name("Si(C)"))
    >>> round(si.get_potential_energy() / len(si), 8)
    -4.62972372

    ``species`` are element symbols; ``entries`` maps every triple of them, e.g.
    ``("Si", "C", "C")``, to a :class:`TersoffEntry`.
    """

    def __init__(self, species: Sequence[str], entries: dict[tuple[str, str, str], TersoffEntry]):
        super().__init__()
        self.species = list(species)
        numbers = atomic_numbers(self.species)
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"species {self.species} name an element twice")
        n_el = len(self.species)
        table = torch.zeros(n_el, n_el, n_el, len(FIELDS), dtype=torch.float64)
        for a, ea in enumerate(self.species):
            for b, eb in enumerate(self.species):
                for c, ec in enumerate(self.species):
                    if (ea, eb, ec) not in entries:
                        raise ValueError(f"no Tersoff entry for the triple {ea} {eb} {ec}: a potential for "
                                         f"{self.species} needs all {n_el ** 3} triples")
                    table[a, b, c] = torch.tensor(entries[ea, eb, ec], dtype=torch.float64)
        if not torch.isfinite(table).all():
            bad = [" ".join(key) for key, value in entries.items() if not all(map(math.isfinite, value))]
            raise ValueError(f"the Tersoff entries for {', '.join(bad)} hold non-finite values (nan or inf); "
                             "every parameter must be a finite number")
        self.entries = {key: TersoffEntry(*map(float, value)) for key, value in entries.items()
                        if all(e in self.species for e in key)}
        self.numbers = numbers
        self.register_buffer("table", table)  # (n_el, n_el, n_el, 14): entry i-j-k
        cut = table[..., COLUMN["R"]] + table[..., COLUMN["D"]]  # (n_el, n_el, n_el)
        self.r_cut = float(cut.max())
        # a pair i-k can matter as a bond (entries i-k-k and, for the repulsion, k-i-i) or as
        # the third atom of any triple i-j-k
        pair_cut = cut.amax(dim=1)  # (n_el, n_el)
        self.register_buffer("pair_cut", torch.maximum(pair_cut, pair_cut.T))

    @classmethod
    def from_name(cls, name: str) -> Tersoff:
        """A parameter set written from the papers: "Si(B)", "Si(C)", "Si(D)", "C" or "SiC"."""
        if name not in NAMED_SETS:
            raise ValueError(f"no Tersoff parameter set named {name!r}; choose one of {list(NAMED_SETS)}, "
                             "or read a LAMMPS file with Tersoff.from_lammps(path)")
        species, entries = NAMED_SETS[name]
        return cls(species, entries)

    @classmethod
    def from_lammps(cls, path, elements: Sequence[str] | None = None) -> Tersoff:
        """Read a LAMMPS ``.tersoff`` file.

        ``elements`` are the file's names to use, as in LAMMPS' ``pair_coeff * * file names``,
        e.g. ``["Si(D)", "C"]`` from ``SiCGe.tersoff``; the chemical element is the name
        without its parenthesis. By default every name in the file is used, which works when
        each element appears under one name only.
        """
        entries = read_lammps_entries(path)
        name = pathlib.Path(path).name
        if elements is None:
            elements = list(dict.fromkeys(n for key in entries for n in key))
        elements = list(elements)
        symbols = [e.split("(", 1)[0] for e in elements]
        try:
            atomic_numbers(symbols)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"{name} holds several entries for one element ({', '.join(elements)}); "
                             "choose one name per element, e.g. "
                             f"Tersoff.from_lammps(path, elements=[{elements[0]!r}])")
        missing = [" ".join(t) for t in _triples(elements) if t not in entries]
        if missing:
            raise ValueError(f"{name} has no entry for {', '.join(missing[:6])}"
                             f"{' ...' if len(missing) > 6 else ''}: the elements {elements} need every triple")
        to_symbol = dict(zip(elements, symbols))
        return cls(symbols, {tuple(to_symbol[n] for n in t): entries[t] for t in _triples(elements)})

    def forward(self, batch: Batch) -> Tensor:
        return self.energies(batch, self.table)

    def parameter_table(self) -> Tensor:
        """The parameters (n_el, n_el, n_el, 14), entry i-j-k: the ``table`` (trained ones in a subclass)."""
        return self.table

    def energies(self, batch: Batch, table: Tensor) -> Tensor:
        """Per-atom energies (N,) with the parameter ``table`` (n_el, n_el, n_el, 14) of entries i-j-k."""
        t = species_index(batch.numbers, self.numbers, "this Tersoff potential")  # (N,) row of each atom
        nbrs = batch.neighbors(self.r_cut)
        n_el = len(self.species)
        if n_el == 1:  # one entry for every bond and triple: a view, nothing gathered
            entry = table[0, 0, 0]  # (14,)
            return tersoff_energies(batch, nbrs, bond=entry.expand(len(nbrs), -1), repulsion=entry.expand(len(nbrs), -1),
                                    triple=lambda p, q: entry.expand(len(p), -1))
        with torch.no_grad():  # keep only pairs some entry can use: fewer triples
            useful = nbrs.vectors(batch).norm(dim=1) < self.pair_cut[t[nbrs.i], t[nbrs.j]]
        nbrs = Neighbors(nbrs.i[useful], nbrs.j[useful], nbrs.shift[useful], nbrs.r_cut)
        ti, tj = t[nbrs.i], t[nbrs.j]  # (P,)
        entries = table.reshape(-1, len(FIELDS))  # (n_el³, 14): entry a-b-c in row (a n_el + b) n_el + c

        def rows(a, b, c):  # the entries a-b-c, gathered with index_select (faster than table[a, b, c])
            return entries.index_select(0, (a * n_el + b) * n_el + c)

        return tersoff_energies(batch, nbrs,
                                bond=rows(ti, tj, tj),  # entry i-j-j
                                repulsion=rows(*self._repulsion_entry(batch, nbrs, ti, tj)),
                                triple=lambda p, q: rows(ti[p], tj[p], tj[q]))  # entry i-j-k

    @staticmethod
    def _repulsion_entry(batch: Batch, nbrs: Neighbors, ti: Tensor, tj: Tensor):
        """Which entry gives the repulsion of each pair: i-j-j or j-i-i, chosen as LAMMPS does.

        LAMMPS evaluates the repulsion once per pair, with the entry of the atom its
        half-list rule makes the centre: of atoms with ids s < t it picks s when s + t is even
        and t when it is odd. The choice matters only for files whose i-j-j and j-i-i entries
        differ (SiC_1989.tersoff: A = 1597.311 and 1597.31114); we follow it so that every
        file gives LAMMPS' numbers. Ids are positions within each structure.
        """
        local = torch.arange(batch.positions.shape[0], device=ti.device) - batch.ptr[batch.structure]  # (N,)
        s, t = local[nbrs.i], local[nbrs.j]  # (P,)
        i_is_centre = (s == t) | ((s < t) == ((s + t) % 2 == 0))
        a = torch.where(i_is_centre, ti, tj)
        b = torch.where(i_is_centre, tj, ti)
        return a, b, b

    def extra_repr(self) -> str:
        return f"species={self.species}, r_cut={self.r_cut}"


def _triples(names: Sequence[str]):
    return [(a, b, c) for a in names for b in names for c in names]
