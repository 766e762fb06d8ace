"""Atom-centred symmetry functions (ACSF), exactly as DScribe 2.1.x computes them (notebook 04).

Behler, J. Chem. Phys. 134, 074106 (2011). For a centre atom i with neighbours j, k within
r_cut (periodic images included), r_ij = |x_j - x_i + S·cell| and the cosine cutoff
f_c(r) = ½(cos(π r / r_cut) + 1) (:mod:`minnp.descriptors.cutoff`):

    radial, one set per neighbour species Z
        G1_Z           = Σ_{j∈Z} f_c(r_ij)
        G2_Z(eta, R_s) = Σ_{j∈Z} exp(-eta (r_ij - R_s)²) f_c(r_ij)
        G3_Z(kappa)    = Σ_{j∈Z} cos(kappa r_ij) f_c(r_ij)

    angular, one set per unordered species pair {A, B}, over unordered neighbour pairs j < k
        cos θ_ijk = (r_ij² + r_ik² - r_jk²) / (2 r_ij r_ik)
        G4(eta, zeta, lambda_) = Σ_{j<k} 2 [½(1 + lambda_ cos θ)]^zeta exp(-eta (r_ij² + r_ik² + r_jk²))
                                         f_c(r_ij) f_c(r_ik) f_c(r_jk)
        G5(eta, zeta, lambda_) = Σ_{j<k} 2 [½(1 + lambda_ cos θ)]^zeta exp(-eta (r_ij² + r_ik²))
                                         f_c(r_ij) f_c(r_ik)

Two cutoffs (ANI's, ``r_cut_angular`` < r_cut): the angular terms then use only neighbours
within r_cut_angular, and their f_c is f_c(·; r_cut_angular); the radial terms keep r_cut. The
angular pairs are the radial list filtered (one neighbour search), as in TorchANI.

DScribe sums each pair j < k once. Behler's paper sums over j ≠ k (twice) with the prefactor
2^(1-zeta): 2·(½)^zeta is the same prefactor, so DScribe's G4 is exactly half of Behler's.
G1 is always present. The centre's own species is not encoded (train one network per element).

Layout of the F = (1 + n2 + n3)·S + (n4 + n5)·S(S+1)/2 features (S species, sorted by atomic
number): first S radial blocks [G1, G2_1..G2_n2, G3_1..G3_n3], one per neighbour species; then
one angular block [G4_1..G4_n4, G5_1..G5_n5] per species pair (b ≤ a) at position a(a+1)/2 + b,
i.e. pairs (0,0), (0,1), (1,1), (0,2), (1,2), (2,2), ... (this is what DScribe's code does; its
tutorial text lists another order). :meth:`ACSF.feature_names` names every column.

Implementation: distances from the neighbour list (:mod:`minnp.neighbors`) in torch, angular
terms on vectorised triples (pairs of pairs sharing a centre, kept once with p < q), and
``index_add`` back onto the centres. No loop over atoms, so forces and stress come from
autograd and the same code runs a batch of many structures on CPU or GPU. ``forward`` and
DScribe-shaped ``create`` / ``derivatives`` (:mod:`minnp.descriptors.dscribe_api`) share it
(the radial sums through :meth:`ACSF.radial_table_half_list`, a fast path that computes each
pair's terms once for both ends, beside the readable :meth:`ACSF.radial_table`);
:meth:`ACSF.pair_jacobian` gives ∂G_i/∂r_ij exactly from the partial derivatives of each term.

A negative base ½(1 + lambda_ cos θ) arises only for |lambda_| > 1; raised to a non-integer
zeta it has no real value (DScribe returns NaN), so that combination is refused up front. cos θ
is clamped to [-1, 1] against rounding: for an exactly collinear triangle (an atom and two of
its own periodic images) DScribe can return NaN under a non-integer zeta; minnp gives the limit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from minnp.batch import Batch
from minnp.descriptors.base import Descriptor
from minnp.descriptors.cutoff import cosine_cutoff
from minnp.descriptors.dscribe_api import DScribeSurface
from minnp.neighbors import Neighbors, neighbor_triples

Tensor = torch.Tensor

TRIANGLES_PER_CHUNK = 32768  # triangles per chunk on a CPU (cache-sized); a GPU takes all at once


def _parameters(values, name: str, columns: tuple[str, ...]) -> np.ndarray:
    """Check one parameter array (rows of ``columns``; a vector for G3) and return it as float64."""
    shape = "a list of kappa values" if len(columns) == 1 else f"rows of [{', '.join(columns)}]"
    if values is None:
        return np.zeros((0,) if len(columns) == 1 else (0, len(columns)))
    try:
        a = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {shape} (numbers), got {values!r}") from None
    if a.size == 0:
        raise ValueError(f"{name} is empty: give {shape}, or leave it out (None) to switch these "
                         "functions off")
    if len(columns) == 1 and a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D list of kappa values, got an array of shape {a.shape}")
    if len(columns) > 1 and (a.ndim != 2 or a.shape[1] != len(columns)):
        raise ValueError(f"{name} must be {shape}, one row per function; got an array of shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf: {a.tolist()}")
    return a


def _power(base: Tensor, zeta: float) -> Tensor:
    """base**zeta; a whole zeta by repeated squaring (exact, and several times faster than pow)."""
    if zeta != int(zeta) or zeta < 1:
        return torch.pow(base, zeta)
    n, result, square = int(zeta), None, base
    while True:
        if n & 1:
            result = square if result is None else result * square
        n >>= 1
        if not n:
            return result
        square = square * square


def _chunk_sizes(centre: Tensor, n_atoms: int, chunk: int) -> list[int]:
    """Split pairs sorted by ``centre`` into runs of whole centres with about ``chunk`` triangles
    each (one run if chunk is 0); returns the run lengths."""
    if len(centre) == 0:
        return []
    counts = torch.bincount(centre, minlength=n_atoms)  # (n_atoms,) pairs per centre
    pair_end = torch.cumsum(counts, 0)  # (n_atoms,)
    triangle_end = torch.cumsum(counts * (counts - 1) // 2, 0)  # (n_atoms,)
    total = int(triangle_end[-1])
    cuts = []
    if chunk and total > chunk:
        targets = torch.arange(chunk, total, chunk, device=centre.device)
        cuts = pair_end[torch.searchsorted(triangle_end, targets)].tolist()  # at centre boundaries
    bounds = sorted({0, *cuts, len(centre)})
    return [hi - lo for lo, hi in zip(bounds[:-1], bounds[1:])]


def _partials(fn, inputs: tuple[Tensor, ...]) -> tuple[Tensor, list[Tensor]]:
    """Values (M, C) of a row-wise fn of K tensors (M,), and ∂fn_c[m]/∂inputs[k][m]: K x (M, C).

    ``fn`` returns C columns, a list of (M,) tensors or an (M, C) tensor. Row m depends only on
    row m of the inputs, so the gradient of the sum of column c is that column's partial
    derivative for every row at once: one backward pass per column.
    """
    inputs = tuple(x.detach().requires_grad_() for x in inputs)
    with torch.enable_grad():
        out = fn(*inputs)
        columns = out.unbind(1) if isinstance(out, Tensor) else out
        grads = [torch.autograd.grad(column.sum(), inputs, retain_graph=True, allow_unused=True,
                                     materialize_grads=True) for column in columns]  # C x K x (M,)
    values = torch.stack([column.detach() for column in columns], dim=1)
    return values, [torch.stack([g[k] for g in grads], dim=1) for k in range(len(inputs))]


def _pair_block(s_j: Tensor, s_k: Tensor) -> Tensor:
    """DScribe's angular block of species pair {s_j, s_k}: a(a+1)/2 + b with a = max, b = min."""
    a, b = torch.maximum(s_j, s_k), torch.minimum(s_j, s_k)
    return a * (a + 1) // 2 + b


class ACSF(DScribeSurface, Descriptor):
    """Atom-centred symmetry functions with DScribe's arguments, layout and numbers.

    >>> from ase.build import molecule
    >>> acsf = ACSF(species=["H", "C", "O"], r_cut=6.0, g2_params=[[1.0, 0.0]],
    ...             g4_params=[[0.005, 1.0, 1.0], [0.005, 1.0, -1.0]])
    >>> acsf.get_number_of_features()        # (1 + 1)·3 radial + 2·6 angular
    18
    >>> acsf.create(molecule("CH3OH")).shape
    (6, 18)

    ``r_cut_angular`` (ANI's two cutoffs; default None: r_cut): G4 and G5 see only the
    neighbours within it, and every f_c of an angular term is f_c(·; r_cut_angular). DScribe has
    one cutoff, so ``create`` matches DScribe only with the default.
    """

    def __init__(self, species: Sequence[str | int], r_cut: float, g2_params=None, g3_params=None,
                 g4_params=None, g5_params=None, periodic: bool = False, r_cut_angular: float | None = None):
        super().__init__(species, periodic)
        if not (isinstance(r_cut, (int, float, np.number)) and r_cut > 0 and np.isfinite(r_cut)):
            raise ValueError(f"r_cut must be a positive number of Å, got {r_cut!r}")
        self.r_cut = float(r_cut)
        self.cutoff = self.r_cut  # the neighbour list's cutoff: the angular pairs are taken from it
        if r_cut_angular is None:
            r_cut_angular = r_cut
        if not (isinstance(r_cut_angular, (int, float, np.number)) and 0 < r_cut_angular <= r_cut):
            raise ValueError(f"r_cut_angular must be a number of Å above 0 and at most r_cut = {r_cut:g} Å "
                             f"(the angular pairs are picked from the radial ones), got {r_cut_angular!r}; "
                             "leave it out (None) for one cutoff")
        self.r_cut_angular = float(r_cut_angular)
        self.g2_params = _parameters(g2_params, "g2_params", ("eta", "R_s"))  # (n2, 2)
        self.g3_params = _parameters(g3_params, "g3_params", ("kappa",))  # (n3,)
        self.g4_params = _parameters(g4_params, "g4_params", ("eta", "zeta", "lambda"))  # (n4, 3)
        self.g5_params = _parameters(g5_params, "g5_params", ("eta", "zeta", "lambda"))  # (n5, 3)
        angular = np.concatenate([self.g4_params, self.g5_params])  # (n4 + n5, 3)
        eta, zeta, lambda_ = angular.T
        bad = (np.abs(lambda_) > 1) & (zeta != np.round(zeta))
        if bad.any():
            raise ValueError(
                f"angular parameters {angular[bad].tolist()}: |lambda| > 1 with non-integer zeta makes "
                "½(1 + lambda cos θ) negative for some angles and its power undefined; use lambda = ±1")
        radial = [("eta", self.g2_params[:, 0]), ("R_s", self.g2_params[:, 1]), ("kappa", self.g3_params)]
        for name, value in radial:
            self.register_buffer(f"_{name}", torch.tensor(value, dtype=torch.float64), persistent=False)

    @property
    def n_radial(self) -> int:
        """Functions per neighbour species: G1, the G2s and the G3s."""
        return 1 + len(self.g2_params) + len(self.g3_params)

    @property
    def n_angular(self) -> int:
        """Functions per species pair: the G4s and the G5s."""
        return len(self.g4_params) + len(self.g5_params)

    @property
    def n_pairs(self) -> int:
        """Unordered species pairs, S(S+1)/2."""
        return self.n_species * (self.n_species + 1) // 2

    def get_number_of_features(self) -> int:
        return self.n_radial * self.n_species + self.n_angular * self.n_pairs

    def feature_names(self) -> list[str]:
        """One name per column, in DScribe's order, e.g. 'G2(eta=0.5, R_s=0) O', 'G4(...) H-O'."""
        radial = ["G1"]
        radial += [f"G2(eta={e:g}, R_s={r:g})" for e, r in self.g2_params]
        radial += [f"G3(kappa={k:g})" for k in self.g3_params]
        # a separate angular cutoff is named in the angular columns
        r_cut = f", r_cut={self.r_cut_angular:g}" if self.r_cut_angular != self.r_cut else ""
        angular = [f"G{g}(eta={e:g}, zeta={z:g}, lambda={lam:g}{r_cut})"
                   for g, params in [(4, self.g4_params), (5, self.g5_params)] for e, z, lam in params]
        symbols = self.species_symbols
        names = [f"{f} {symbols[s]}" for s in range(self.n_species) for f in radial]
        for a in range(self.n_species):
            for b in range(a + 1):  # block a(a+1)/2 + b: (0,0), (0,1), (1,1), (0,2), ...
                names += [f"{f} {symbols[b]}-{symbols[a]}" for f in angular]
        return names

    # ---- the maths, on distances ------------------------------------------------------------

    def radial_terms(self, r: Tensor) -> Tensor:
        """One neighbour's [G1, G2.., G3..] contributions, (P,) -> (P, n_radial)."""
        fc = cosine_cutoff(r, self.r_cut)[:, None]  # (P, 1)
        r = r[:, None]
        g2 = torch.exp(-self._eta.to(r.dtype) * (r - self._R_s.to(r.dtype)) ** 2) * fc  # (P, n2)
        g3 = torch.cos(self._kappa.to(r.dtype) * r) * fc  # (P, n3)
        return torch.cat([fc, g2, g3], dim=1)

    def angular_terms(self, r_ij: Tensor, r_ik: Tensor, r_jk: Tensor) -> list[Tensor]:
        """One neighbour pair's [G4.., G5..] contributions from the triangle's sides.

        (T,) x 3 -> n4 + n5 columns of shape (T,), one per function in layout order (columns,
        not a (T, n_angular) tensor, so the derivative of one function is one small backward
        pass; ``torch.stack(..., dim=1)`` makes the table).
        """
        ij2, ik2, jk2 = r_ij * r_ij, r_ik * r_ik, r_jk * r_jk  # (T,) each
        cos_theta = (ij2 + ik2 - jk2) / (2 * r_ij * r_ik)  # (T,) law of cosines
        cos_theta = cos_theta.clamp(-1.0, 1.0)  # rounding can leave |cos θ| a hair above 1
        # (T,) f_c(r_ij) f_c(r_ik) with the factor 2 of G4 and G5
        r_cut = self.r_cut_angular
        fc_ij_ik = 2 * cosine_cutoff(r_ij, r_cut) * cosine_cutoff(r_ik, r_cut)
        # G4 and G5 differ only in the r_jk terms: f_c(r_jk) and r_jk² in the Gaussian
        radial = {}
        if len(self.g4_params):
            radial[4] = (fc_ij_ik * cosine_cutoff(r_jk, r_cut), ij2 + ik2 + jk2)
        if len(self.g5_params):
            radial[5] = (fc_ij_ik, ij2 + ik2)
        # One column per function; parameter sets repeat eta, zeta and lambda_, so each distinct
        # angular factor [½(1 + lambda_ cos θ)]^zeta and radial factor is computed once.
        angle, decay, columns = {}, {}, []
        for g, params in ((4, self.g4_params), (5, self.g5_params)):
            for eta, zeta, lambda_ in params.tolist():
                f, sum_sq = radial[g]
                if (zeta, lambda_) not in angle:  # [½(1 + λ cos θ)]^ζ
                    angle[zeta, lambda_] = _power(cos_theta * (0.5 * lambda_) + 0.5, zeta)  # (T,)
                if (g, eta) not in decay:
                    decay[g, eta] = torch.exp(-eta * sum_sq) * f  # (T,)
                columns.append(angle[zeta, lambda_] * decay[g, eta])
        return columns

    # ---- from a neighbour list to per-atom features ----------------------------------------

    def _triangles(self, centre: Tensor, r_vec: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Triangles j-i-k of a run of pairs sorted by ``centre`` (P,): pair indices p < q (T,)
        into that run, and r_jk = |r_ik - r_ij| (T,) from the pair vectors ``r_vec`` (P, 3)."""
        n_centres = int(centre[-1] - centre[0]) + 1
        p, q = neighbor_triples(centre - centre[0], n_centres, unordered=True)  # (T,) each
        r_jk = (r_vec.index_select(0, q) - r_vec.index_select(0, p)).norm(dim=1)  # (T,)
        if len(self.g5_params) == 0:  # G4 vanishes for r_jk ≥ r_cut_angular: skip those triangles
            close = torch.nonzero(r_jk < self.r_cut_angular).squeeze(1)
            p, q, r_jk = p.index_select(0, close), q.index_select(0, close), r_jk.index_select(0, close)
        return p, q, r_jk

    def radial_table(self, nbrs: Neighbors, s: Tensor, r: Tensor) -> Tensor:
        """The radial features (N, S·n_radial) from the distances r (P,) of the full list.

        Row i·S + s_j of an (N·S, n_radial) table is the block of neighbour species s_j of
        centre i: one row of terms per pair, added to its centre's row.
        """
        n, S = len(s), self.n_species
        table = r.new_zeros(n * S, self.n_radial)
        table = table.index_add(0, nbrs.i * S + s.index_select(0, nbrs.j), self.radial_terms(r))
        return table.reshape(n, S * self.n_radial)

    def radial_table_half_list(self, nbrs: Neighbors, s: Tensor, r: Tensor) -> Tensor:
        """:meth:`radial_table` from half the pairs: the fast path ``forward`` takes (forward and
        backward about 3x faster on CPU; tests hold it to the readable one to 1e-12).

        The full list holds every pair twice, (i, j, S) and (j, i, -S), at one distance, so the
        terms are computed on one half only (i < j, and for an atom's own periodic images, i = j,
        the shifts S whose first non-zero component is positive) and each row is added to both
        ends: to centre i in block s_j and to centre j in block s_i, as TorchANI does. Only r of
        that half carries gradients, so this is for features of atoms (forces, stress), never
        for per-pair derivatives. A list that is not symmetric (the half is not exactly half of
        it) takes the readable route.
        """
        sign = torch.sign(nbrs.shift)  # (P, 3)
        first_positive = (sign[:, 0] > 0) | ((sign[:, 0] == 0) & (
            (sign[:, 1] > 0) | ((sign[:, 1] == 0) & (sign[:, 2] > 0))))  # (P,) S > 0, lexicographically
        half = torch.nonzero((nbrs.i < nbrs.j) | ((nbrs.i == nbrs.j) & first_positive)).squeeze(1)  # (P/2,)
        if 2 * len(half) != len(r):
            return self.radial_table(nbrs, s, r)
        n, S = len(s), self.n_species
        i, j = nbrs.i.index_select(0, half), nbrs.j.index_select(0, half)  # (P/2,) each
        terms = self.radial_terms(r.index_select(0, half))  # (P/2, n_radial), r_ij = r_ji
        table = r.new_zeros(n * S, self.n_radial)
        table = table.index_add(0, i * S + s.index_select(0, j), terms)  # on centre i, block s_j
        table = table.index_add(0, j * S + s.index_select(0, i), terms)  # on centre j, block s_i
        return table.reshape(n, S * self.n_radial)

    def _angular_pairs(self, r: Tensor) -> Tensor | None:
        """Indices (P_a,) of the pairs within r_cut_angular, in list order (so still sorted by
        centre); None when that is every pair (one cutoff). The one neighbour search at r_cut
        serves both parts, as in TorchANI."""
        if self.r_cut_angular >= self.r_cut:
            return None
        return torch.nonzero(r.detach() < self.r_cut_angular).squeeze(1)

    def features(self, batch: Batch, nbrs: Neighbors, vectors: Tensor | None = None) -> Tensor:
        """Per-atom ACSF (N, F) in DScribe's layout; differentiable in positions and cell."""
        s = self.species_index(batch)  # (N,)
        n, S = len(s), self.n_species
        s_j = s[nbrs.j]  # (P,) species of each neighbour
        r_vec = nbrs.vectors(batch) if vectors is None else vectors  # (P, 3)
        r = r_vec.norm(dim=1)  # (P,)
        if vectors is None:  # features of atoms: each pair's radial terms once, added to both ends
            out = [self.radial_table_half_list(nbrs, s, r)]
        else:  # given pair vectors are moved one by one (pair_jacobian): each must feed its own centre
            out = [self.radial_table(nbrs, s, r)]
        if self.n_angular:
            # angular: row i·n_pairs + block of an (N·n_pairs, n_angular) table, filled chunk by
            # chunk of whole centres (split once: one backward step for all chunks)
            angular = r.new_zeros(n * self.n_pairs, self.n_angular)
            pairs = (nbrs.i, s_j, r_vec, r)  # (P,), (P,), (P, 3), (P,)
            close = self._angular_pairs(r)
            if close is not None:  # a shorter angular cutoff: only the pairs within it
                pairs = tuple(x.index_select(0, close) for x in pairs)  # (P_a, ...)
            sizes = _chunk_sizes(pairs[0], n, TRIANGLES_PER_CHUNK if r.device.type == "cpu" else 0)
            for centre, s_jc, r_vec_c, r_c in zip(*(x.split(sizes) for x in pairs)):
                p, q, r_jk = self._triangles(centre, r_vec_c)  # (T,) each, within the chunk
                # (index_select is x[p] for 1-D x, several times faster on CPU)
                row = centre.index_select(0, p) * self.n_pairs  # (T,)
                if S > 1:  # add the species-pair block of each triangle
                    row = row + _pair_block(s_jc.index_select(0, p), s_jc.index_select(0, q))
                terms = self.angular_terms(r_c.index_select(0, p), r_c.index_select(0, q), r_jk)
                angular.index_add_(0, row, torch.stack(terms, dim=1))  # (T, n_angular) summed per row
            out.append(angular.reshape(n, self.n_pairs * self.n_angular))
        return torch.cat(out, dim=1)

    # ---- the pair Jacobian, from the partial derivatives of each term ----------------------

    def pair_jacobian(self, batch: Batch, nbrs: Neighbors | None = None) -> tuple[Tensor, Neighbors, Tensor]:
        """G (N, F), the neighbour list, and J (P, F, 3) = ∂G_{i_p}/∂r_p (see :class:`Descriptor`).

        The fast exact route (the general one takes a backward pass per feature through the
        whole descriptor; tests hold this one to it to 1e-12): each radial term depends on one
        distance r_ij and each angular term on one triangle's sides (r_ij, r_ik, r_jk), so
        autograd of ``radial_terms`` and ``angular_terms`` gives all their partial derivatives
        (one small backward pass per function), and the chain rule through the unit vectors puts
        them on the pair vectors: ∂r_ij/∂r_ij = r̂_ij, and r_jk = |r_ik - r_ij| moves with both.
        """
        nbrs = self.neighbors(batch) if nbrs is None else nbrs
        s = self.species_index(batch)  # (N,)
        n, S, R, C, n_pairs = len(s), self.n_species, self.n_radial, self.n_angular, self.n_pairs
        with torch.no_grad():
            r_vec = nbrs.vectors(batch)  # (P, 3)
            r = r_vec.norm(dim=1)  # (P,)
            unit = r_vec / r[:, None]  # (P, 3)
            s_j, P = s[nbrs.j], len(r)  # (P,)
            pairs = (nbrs.i, s_j, r_vec, r, unit)  # the angular terms' pairs (all, or within r_cut_angular)
            close = self._angular_pairs(r)
            if close is not None:
                pairs = tuple(x.index_select(0, close) for x in pairs)
            P_a = len(pairs[0])
            G = [r.new_zeros(n * S, R), r.new_zeros(n * n_pairs, C)]  # rows as in features()
            J = [r.new_zeros(P, S, R, 3), r.new_zeros(P_a * n_pairs, C, 3)]  # rows (pair, block)

            # radial: ∂g/∂r_ij = (dg/dr) r̂_ij, in the block of the neighbour's species
            g, (dg_dr,) = _partials(self.radial_terms, (r,))  # (P, R) each
            G[0].index_add_(0, nbrs.i * S + s_j, g)
            J[0][torch.arange(P, device=r.device), s_j] = dg_dr[:, :, None] * unit[:, None, :]
            # triangles in chunks of whole centres, smaller than in features(): each triangle here
            # holds 7·C numbers
            sizes = _chunk_sizes(pairs[0], n, TRIANGLES_PER_CHUNK // 2 if r.device.type == "cpu" else 0)
            chunks = zip(*(x.split(sizes) for x in pairs)) if C else ()
            first = 0  # the chunk's first pair
            for centre, s_jc, r_vec_c, r_c, unit_c in chunks:
                p, q, r_jk = self._triangles(centre, r_vec_c)  # (T,) each, within the chunk
                # values a and partial derivatives along r_ij, r_ik, r_jk: (T, C) each
                a, (da_dij, da_dik, da_djk) = _partials(self.angular_terms, (r_c[p], r_c[q], r_jk))
                u_jk = (r_vec_c[q] - r_vec_c[p]) / r_jk[:, None]  # (T, 3) unit vector from j to k
                along_jk = da_djk[:, :, None] * u_jk[:, None, :]  # (T, C, 3)
                block = _pair_block(s_jc[p], s_jc[q])  # (T,)
                G[1].index_add_(0, centre[p] * n_pairs + block, a)
                on_p = da_dij[:, :, None] * unit_c[p, None, :] - along_jk  # (T, C, 3) ∂/∂r_ij
                on_q = da_dik[:, :, None] * unit_c[q, None, :] + along_jk  # (T, C, 3) ∂/∂r_ik
                J[1].index_add_(0, (first + p) * n_pairs + block, on_p)
                J[1].index_add_(0, (first + q) * n_pairs + block, on_q)
                first += len(centre)
            J[1] = J[1].reshape(P_a, n_pairs * C, 3)
            if close is not None:  # back to rows of the whole list: zero beyond r_cut_angular
                J[1] = r.new_zeros(P, n_pairs * C, 3).index_copy_(0, close, J[1])
        G = torch.cat([G[0].reshape(n, S * R), G[1].reshape(n, n_pairs * C)], dim=1)  # (N, F)
        J = torch.cat([J[0].reshape(P, S * R, 3), J[1]], dim=1)  # (P, F, 3)
        return G, nbrs, J

    def config(self) -> dict:
        """The constructor's arguments as plain Python: ``ACSF(**acsf.config())`` is the same ACSF."""
        def rows(a: np.ndarray):
            return a.tolist() if a.size else None  # an empty parameter set means "none"

        return {"species": self.species_symbols, "r_cut": self.r_cut, "g2_params": rows(self.g2_params),
                "g3_params": rows(self.g3_params), "g4_params": rows(self.g4_params),
                "g5_params": rows(self.g5_params), "periodic": self.periodic,
                "r_cut_angular": self.r_cut_angular}

    def extra_repr(self) -> str:
        return (f"species={self.species_symbols}, r_cut={self.r_cut}, r_cut_angular={self.r_cut_angular}, "
                f"n2={len(self.g2_params)}, "
                f"n3={len(self.g3_params)}, n4={len(self.g4_params)}, n5={len(self.g5_params)}, "
                f"periodic={self.periodic}")
