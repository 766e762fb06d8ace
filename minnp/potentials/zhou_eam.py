"""The analytic EAM of Zhou, Johnson & Wadley, PRB 69, 144113 (2004), for 16 metals and their alloys.

Notebook 01 plots its functions, computes an EAM energy with them by hand and runs them in
ASE and LAMMPS. The energy is the EAM's (:func:`minnp.potentials.eam.eam_energies`),

    E_i = F_a(ρ_i) + ½ Σ_{j≠i} φ_ab(r_ij),      ρ_i = Σ_{j≠i} f_b(r_ij),

with the three functions in closed form (the equations in :class:`ZhouEAM`) and their
constants from the paper's Table III for Cu, Ag, Au, Ni, Pd, Pt, Al, Pb, Fe, Mo, Ta, W, Mg, Co,
Ti and Zr (:data:`ZHOU_2004`), so the course needs no third-party file. ``tabulate`` and
``write_setfl`` turn it into LAMMPS tables (:class:`minnp.potentials.EAM`, ``eam/alloy``).
Forces and stress come from autograd (:mod:`minnp.calculator`).
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple, Sequence

import torch
from ase.data import atomic_masses, reference_states

from minnp.batch import Batch, atomic_numbers
from minnp.potentials.eam import EAM, eam_energies

Tensor = torch.Tensor


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


# Table III of the paper in its two halves (F_1 = 0 for every element, so it has no column).
TABLE_III_PAIR_AND_DENSITY = """
#           r_e       f_e     rho_e     rho_s     alpha      beta         A         B     kappa    lambda
Cu     2.556162  1.554485 21.175871 21.175395  8.127620  4.334731  0.396620  0.548085  0.308782  0.756515
Ag     2.891814  1.106232 14.604100 14.604144  9.132010  4.870405  0.277758  0.419611  0.339710  0.750758
Au     2.885034  1.529021 19.991632 19.991509  9.516052  5.075228  0.229762  0.356666  0.356570  0.748798
Ni     2.488746  2.007018 27.562015 27.562031  8.383453  4.471175  0.429046  0.633531  0.443599  0.820658
Pd     2.750897  1.595417 21.335246 21.940073  8.697397  4.638612  0.406763  0.598880  0.397263  0.754799
Pt     2.771916  2.336509 33.367564 35.205357  7.105782  3.789750  0.556398  0.696037  0.385255  0.770510
Al     2.863924  1.403115 20.418205 23.195740  6.613165  3.527021  0.314873  0.365551  0.379846  0.759692
Pb     3.499723  0.647872  8.450154  8.450063  9.121799  5.212457  0.161219  0.236884  0.250805  0.764955
Fe     2.481987  1.885957 20.041463 20.041463  9.818270  5.236411  0.392811  0.646243  0.170306  0.340613
Mo     2.728100  2.723710 29.354065 29.354065  8.393531  4.476550  0.708787  1.120373  0.137640  0.275280
Ta     2.860082  3.086341 33.787168 33.787168  8.489528  4.527748  0.611679  1.032101  0.176977  0.353954
W      2.740840  3.487340 37.234847 37.234847  8.900114  4.746728  0.882435  1.394592  0.139209  0.278417
Mg     3.196291  0.544323  7.132600  7.132600 10.228708  5.455311  0.137518  0.225930  0.500000  1.000000
Co     2.505979  1.975299 27.206789 27.206789  8.679625  4.629134  0.421378  0.640107  0.500000  1.000000
Ti     2.933872  1.863200 25.565138 25.565138  8.775431  4.680230  0.373601  0.570968  0.500000  1.000000
Zr     3.199978  2.230909 30.879991 30.879991  8.559190  4.564902  0.424667  0.640054  0.500000  1.000000
"""
TABLE_III_EMBEDDING = """
#          F_n0      F_n1      F_n2      F_n3       F_0       F_2       F_3       eta       F_e
Cu    -2.170269 -0.263788  1.088878 -0.817603 -2.190000  0.561830 -2.100595  0.310490 -2.186568
Ag    -1.729364 -0.255882  0.912050 -0.561432 -1.750000  0.744561 -1.150650  0.783924 -1.748423
Au    -2.937772 -0.500288  1.601954 -0.835530 -2.980000  1.706587 -1.134778  1.021095 -2.978815
Ni    -2.693513 -0.076445  0.241442 -2.375626 -2.700000  0.265390 -0.152856  0.445470 -2.700000
Pd    -2.321006 -0.473983  1.615343 -0.231681 -2.360000  1.481742 -1.675615  1.130000 -2.352753
Pt    -1.455568 -2.149952  0.528491  1.222875 -4.170000  3.010561 -2.420128  1.450000 -4.145597
Al    -2.807602 -0.301435  1.258562 -1.247604 -2.830000  0.622245 -2.488244  0.785902 -2.824528
Pb    -1.422370 -0.210107  0.682886 -0.529378 -1.440000  0.702726 -0.538766  0.935380 -1.439436
Fe    -2.534992 -0.059605  0.193065 -2.282322 -2.540000  0.200269 -0.148770  0.391750 -2.539945
Mo    -3.692913 -0.178812  0.380450 -3.133650 -3.710000  0.875874  0.776222  0.790879 -3.712093
Ta    -5.103845 -0.405524  1.112997 -3.585325 -5.140000  1.640098  0.221375  0.848843 -5.141526
W     -4.946281 -0.148818  0.365057 -4.432406 -4.960000  0.661935  0.348147  0.582714 -4.961306
Mg    -0.896473 -0.044291  0.162232 -0.689950 -0.900000  0.122838 -0.226010  0.431425 -0.899702
Co    -2.541799 -0.219415  0.733381 -1.589003 -2.560000  0.705845 -0.687140  0.694608 -2.559307
Ti    -3.203773 -0.198262  0.683779 -2.321732 -3.220000  0.608587 -0.750710  0.558572 -3.219176
Zr    -4.485793 -0.293129  0.990148 -3.202516 -4.510000  0.928602 -0.981870  0.597133 -4.509025
"""


def _table_rows(text: str) -> dict[str, list[float]]:
    rows = [line.split() for line in text.strip().splitlines() if not line.startswith("#")]
    return {row[0]: [float(x) for x in row[1:]] for row in rows}


def _zhou_2004() -> dict[str, ZhouParameters]:
    embedding = _table_rows(TABLE_III_EMBEDDING)
    table = {}
    for element, (r_e, f_e, rho_e, rho_s, alpha, beta, A, B, kappa, lambda_) in \
            _table_rows(TABLE_III_PAIR_AND_DENSITY).items():
        F_n0, F_n1, F_n2, F_n3, F_0, F_2, F_3, eta, F_e = embedding[element]
        table[element] = ZhouParameters(r_e, f_e, rho_e, rho_s, alpha, beta, A, B, kappa, lambda_,
                                        (F_n0, F_n1, F_n2, F_n3), (F_0, 0.0, F_2, F_3), eta, F_e)
    return table


ZHOU_2004 = _zhou_2004()  # element -> ZhouParameters


def _switched_exponential(x: Tensor, rate: Tensor, shift: Tensor) -> Tensor:
    """exp[-rate (x - 1)] / (1 + (x - shift)^20): the shape of f and both parts of φ."""
    return torch.exp(-rate * (x - 1)) / (1 + (x - shift) ** 20)


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

    def density(self, r: Tensor, t: Tensor) -> Tensor:
        """f_t(r), the density an atom of element t puts at distance r."""
        return self.f_e[t] * _switched_exponential(r / self.r_e[t], self.beta[t], self.lambda_[t])

    def _pure_pair(self, r: Tensor, t: Tensor) -> Tensor:
        x = r / self.r_e[t]
        repulsion = self.A[t] * _switched_exponential(x, self.alpha[t], self.kappa[t])
        return repulsion - self.B[t] * _switched_exponential(x, self.beta[t], self.lambda_[t])

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
        def density(r, t_j, t_i):  # an atom's density is the same at atoms of every element
            return self.density(r, t_j)

        return eam_energies(batch, self.r_cut, self.numbers, self.embedding, density, self.pair)

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
