"""SOAP: the smooth overlap of atomic positions power spectrum, as DScribe 2.1 computes it.

Notebook 05 derives every line below; tests check it element by element against DScribe live.
Bartók, Kondor & Csányi, Phys. Rev. B 87, 184115 (2013); DScribe: Himanen et al., Comput.
Phys. Commun. 247, 106949 (2020).

1. Neighbour density. Around a centre (an atom, or any point) each species Z has a density of
   Gaussians, one per atom j of that species, NOT normalised:

       ρ_Z(r) = Σ_{j ∈ Z} w_j exp(-η |r - r_j|²),        η = 1 / (2σ²)

   with r_j relative to the centre. Every atom INCLUDING the centre atom itself counts if
   |r_j| ≤ r_n = r_cut + σ √(-2 ln 10⁻³) (where its Gaussian has decayed to 10⁻³ at r_cut).
   There is no smooth cutoff: atoms between r_cut and r_n count in full (DScribe's choice).
   w_j = 1 unless a ``weighting`` is given (below).

2. Radial basis (GTO). For each l, n_max Gaussians r^l exp(-α_lk r²) with widths chosen to
   decay to 10⁻³ at a_k = linspace(1, r_cut, n_max): α_lk = (ln 1000 + l ln a_k) / a_k². They
   overlap, S_l[k,k'] = ½ Γ(l + 3/2) (α_lk + α_lk')^-(l+3/2); Löwdin orthonormalisation gives

       g_nl(r) = Σ_k β_l[n,k] r^l exp(-α_lk r²),           β_l = S_l^(-1/2).

   S_l is badly conditioned (cond ~10⁸–10¹³), so β_l is computed with exactly DScribe's SciPy
   calls, ``sqrtm(inv(S_l))`` in float64, and handed to torch as a constant (:func:`gto_basis`).

3. Expansion coefficients: project ρ_Z on g_nl(r) Y_lm(r̂). The Gaussian integral is analytic:

       c^Z_nlm = Σ_k β_l[n,k] π^(3/2) (α+η)^(-3/2) (η/(α+η))^l
                 · Σ_{j ∈ Z} w_j r_j^l Y_lm(r̂_j) exp(-αη r_j² / (α+η)),       α = α_lk

   r^l Y_lm are the real solid harmonics (:mod:`minnp.descriptors.harmonics`): polynomials in
   x, y, z, so the centre atom (r = 0) contributes to l = 0 only and nothing is ever divided by r.

4. Power spectrum: rotations mix the m of one l orthogonally, so the sum over m is invariant:

       p^{Z1 Z2}_{n n' l} = π √(8 / (2l+1)) Σ_m c^{Z1}_{nlm} c^{Z2}_{n'lm}

   DScribe's layout: for Z1 = 0..S-1, Z2 = Z1..S-1, l = 0..l_max, n = 0..n_max-1,
   n' = (n if Z1 == Z2 else 0)..n_max-1 — (S·n_max)(S·n_max + 1)/2 · (l_max+1) features.

Options, all as in DScribe:

- ``rbf="polynomial"``: DScribe's other radial basis, g_n(r) = Σ_k β_nk (r_cut - r)^(k+2)
  (Löwdin-orthonormal on [0, r_cut]), integrated numerically as DScribe does:
  c_nlm = 2π r_cut Σ_w w_w r_w² g_n(r_w) Σ_j F_l(r_w, r_j) Y_lm(r̂_j) on a 100-point Gauss–Legendre
  grid, with F_l(r, r_j) = e^(-η(r² + r_j²)) i_l(2η r r_j) by DScribe's upward recursion — its
  quirks kept: each of e^(-η(r ∓ r_j)²) is dropped where r ∓ r_j > 5 Å, and F_l (l ≥ 2) is
  clamped at 0 (:func:`polynomial_basis`, :meth:`SOAP.radial_parts`).

- ``compression={"mode": ...}``: ``"crossover"`` keeps only Z1 == Z2; ``"mu2"`` sums the
  coefficients over species first (one block, n ≤ n'); ``"mu1nu1"`` pairs each species with the
  species sum, p = pref Σ_m c^Z_nlm Σ_Z' c^Z'_n'lm, ordered Z, l, n, n' (all n').
  ``"species_weighting": {species: weight}`` multiplies each species' density.
- ``average``: ``"inner"`` averages c over the centres of a structure before the power
  spectrum, ``"outer"`` averages p; one feature vector per structure.
- ``weighting={"function": "poly"|"pow"|"exp", ...}``: a weight w(r) on each neighbour's
  Gaussian (formulas in :mod:`minnp.descriptors.soap_basis`); without r_cut it is inferred.

The basis functions and weights live in :mod:`minnp.descriptors.soap_basis`. Two faces (see
:mod:`minnp.descriptors.base`): ``forward(batch)`` gives differentiable features for models
(forces from autograd); ``create`` and ``derivatives`` mirror DScribe's methods and output
shapes, with Cartesian ``centers`` too (:mod:`minnp.descriptors.dscribe_api`).

5. Derivatives (``derivatives``, ``pair_jacobian``) are analytic, without autograd
   (:meth:`SOAP.environment_jacobian`): each pair term is ρ_ln(r) Θ_lm(r_j), so by the product
   rule ∂/∂r_j = ρ'_ln (r_j / r) Θ_lm + ρ_ln ∇Θ_lm, with ∇(r^l Y_lm) a solid harmonic of degree
   l-1 (:func:`~minnp.descriptors.harmonics.real_solid_harmonics_gradient`); the bilinear power
   spectrum then needs each pair's derivative times its centre's coefficients. Tests hold it to
   autograd to 1e-12.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import torch

from minnp.batch import Batch
from minnp.descriptors import soap_basis
from minnp.descriptors.base import Descriptor
from minnp.descriptors.dscribe_api import SOAPSurface
from minnp.descriptors.environments import Environments, atom_environments, mean_per_structure, pad_groups
from minnp.descriptors.harmonics import real_solid_harmonics, real_solid_harmonics_gradient
from minnp.descriptors.soap_basis import GAUSSIAN_THRESHOLD, gto_basis, polynomial_basis
from minnp.neighbors import Neighbors

Tensor = torch.Tensor

BLOCK_PAIRS = 10240  # pair slots per block of centres: keeps temporaries small and in cache
BLOCK_JACOBIAN_PAIRS = 2048  # the same for the Jacobian's per-pair harmonics and products
CHUNK_PAIRS = 256  # pairs per chunk of the Jacobian's largest temporaries (L·n·R·3 and F·3 numbers each)


class SOAP(SOAPSurface, Descriptor):
    """SOAP power spectrum with DScribe 2.1's arguments, feature layout and numbers.

    >>> from ase.build import bulk
    >>> soap = SOAP(["Si"], r_cut=5.0, n_max=8, l_max=6, periodic=True)
    >>> soap.create(bulk("Si")).shape, soap.get_number_of_features()
    ((2, 252), 252)
    """

    def __init__(
        self,
        species: Sequence[str | int],
        r_cut: float | None,
        n_max: int,
        l_max: int,
        sigma: float = 1.0,
        rbf: str = "gto",
        weighting: dict | None = None,
        average: str = "off",
        compression: dict | None = None,
        periodic: bool = False,
    ):
        super().__init__(species, periodic)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive (the Gaussian width in Å), got sigma={sigma}")
        if int(n_max) != n_max or n_max < 1:
            raise ValueError(f"n_max must be a positive integer (radial functions), got {n_max}")
        if int(l_max) != l_max or not 0 <= l_max <= 20:
            raise ValueError(f"l_max must be an integer in 0..20 (DScribe's limit), got {l_max}")
        if rbf not in ("gto", "polynomial"):
            raise ValueError(f"rbf must be 'gto' or 'polynomial', got {rbf!r}")
        if average not in ("off", "inner", "outer"):
            raise ValueError(f"average must be 'off', 'inner' or 'outer', got {average!r}")
        self.weighting = soap_basis.check_weighting(weighting)
        if not r_cut:
            r_cut = soap_basis.infer_r_cut(self.weighting)
        if rbf == "gto" and not r_cut > 1:
            raise ValueError(f"r_cut must be larger than 1 Å for the GTO basis, got r_cut={r_cut}")
        if rbf == "polynomial" and l_max > 9:
            warnings.warn(f"rbf='polynomial' with l_max={l_max}: DScribe's upward recursion for this basis "
                          "loses all precision beyond l = 9, so minnp and DScribe return different noise "
                          "there; use rbf='gto' for high l", stacklevel=2)
        compression = dict(compression or {})
        self.compression = compression.get("mode", "off")
        if self.compression not in ("off", "crossover", "mu2", "mu1nu1"):
            raise ValueError(
                f"compression mode {self.compression!r} unknown: use 'off', 'crossover', 'mu2' or 'mu1nu1'"
            )
        self.r_cut, self.n_max, self.l_max, self.sigma = float(r_cut), int(n_max), int(l_max), float(sigma)
        self.rbf, self.average = rbf, average
        self.eta = 1.0 / (2.0 * sigma**2)
        self.cutoff = self.r_cut + self.sigma * math.sqrt(-2.0 * math.log(GAUSSIAN_THRESHOLD))  # r_n

        # c_nlm = Σ_k radial[l, n, k] Σ_j w_j A_lm(r_j) R_lk(r_j), R and A from radial_parts and angular;
        # centre_radial: R_lk at r = 0 (only l = 0 survives there)
        if rbf == "gto":  # 3.: R_lk = exp(-gamma[l, k] r²), A_lm = r^l Y_lm
            alphas, betas = gto_basis(self.r_cut, self.n_max, self.l_max)
            eta, l = self.eta, np.arange(self.l_max + 1)[:, None]
            prefactor = np.pi**1.5 * (alphas + eta) ** -1.5 * (eta / (alphas + eta)) ** l  # (L, n)
            buffers = {"alphas": alphas, "betas": betas,  # the basis itself, for plots
                       "gamma": alphas * eta / (alphas + eta),  # (L, n)
                       "radial": betas * prefactor[:, None, :],  # (L, n, k)
                       "centre_radial": np.ones(self.n_max)}
        else:  # R_ln = 2π r_cut Σ_w w_w r_w² g_n(r_w) F_l(r_w, r), A_lm = Y_lm(r̂); radial = 1
            grid, weights, g = polynomial_basis(self.r_cut, self.n_max)
            projection = 2 * np.pi * self.r_cut * weights * grid**2 * g  # (n, W)
            buffers = {"grid": grid, "projection": projection,
                       "radial": np.stack([np.eye(self.n_max)] * (self.l_max + 1)),
                       "centre_radial": projection @ np.exp(-self.eta * grid**2)}
        species_weighting = compression.get("species_weighting")
        buffers["species_weights"] = soap_basis.species_weights(species_weighting, self.species)  # (S,)
        self._species_weighting = None if species_weighting is None else dict(  # for config()
            zip(self.species_symbols, buffers["species_weights"].tolist()))
        buffers.update(self._layout())
        for name, value in buffers.items():
            self.register_buffer(name, torch.as_tensor(value), persistent=False)

    # ---- sizes, names and where each column comes from ------------------------------------------

    def get_number_of_features(self) -> int:
        S, n, L = self.n_species, self.n_max, self.l_max + 1
        return {"off": (S * n) * (S * n + 1) // 2 * L, "crossover": S * n * (n + 1) // 2 * L,
                "mu2": n * (n + 1) // 2 * L, "mu1nu1": S * n * n * L}[self.compression]

    def feature_names(self) -> list[str]:
        """One name per column, e.g. "Si-O l=2 n=0 n'=3" ("*": summed over species)."""
        sym = self.species_symbols
        return [f"{'*' if self._left_summed else sym[z1]}-{'*' if self._right_summed else sym[z2]} "
                f"l={l} n={a} n'={b}" for l, z1, a, z2, b in self._columns()]

    @property
    def _per_l(self) -> list[int]:
        """Sizes of the l blocks of the (l, m) axis: 1, 3, 5, ..., 2 l_max + 1."""
        return [2 * l + 1 for l in range(self.l_max + 1)]

    @property
    def _left_summed(self) -> bool:
        return self.compression == "mu2"

    @property
    def _right_summed(self) -> bool:
        return self.compression in ("mu2", "mu1nu1")

    def _columns(self) -> list[tuple[int, int, int, int, int]]:
        """(l, Z1, n, Z2, n') of each DScribe column, in DScribe's order."""
        S, n, L = self.n_species, self.n_max, self.l_max + 1
        if self.compression == "mu2":
            return [(l, 0, a, 0, b) for l in range(L) for a in range(n) for b in range(a, n)]
        if self.compression == "mu1nu1":
            return [(l, z, a, 0, b) for z in range(S) for l in range(L) for a in range(n) for b in range(n)]
        pairs = [(z1, z2) for z1 in range(S) for z2 in (range(z1, S) if self.compression == "off" else [z1])]
        return [(l, z1, a, z2, b) for z1, z2 in pairs for l in range(L) for a in range(n)
                for b in range(a if z1 == z2 else 0, n)]

    def _layout(self) -> dict[str, np.ndarray]:
        """Index tables: each column's place in the stacked power spectrum p[l, A, B] (``columns``),
        and in the two halves of its derivative (``jac_left``, ``jac_right`` with species masks).

        A = (Z1, n) and B = (Z2, n') index the rows of the left and right coefficient matrices;
        a side summed over species (mu2, mu1nu1) has A = n or B = n' alone. The derivative of a
        column is D[l, n, R] (:meth:`environment_jacobian`) at (l, n, B's row) for ∂left·right and
        at (l, n', A's row) for left·∂right, R counting the rows of :meth:`_rows`.
        """
        S, n = self.n_species, self.n_max
        A = n if self._left_summed else S * n
        B = n if self._right_summed else S * n
        R = A + B if self.compression == "mu1nu1" else A  # rows of _rows: c, then the species sum
        columns, jac_left, jac_right, left_mask, right_mask = [], [], [], [], []
        for l, z1, a, z2, b in self._columns():
            row = a if self._left_summed else z1 * n + a
            col = b if self._right_summed else z2 * n + b
            columns.append((l * A + row) * B + col)
            jac_left.append((l * n + a) * R + (R - B) + col)  # ∂left[a] · right[col]
            jac_right.append((l * n + b) * R + row)  # left[row] · ∂right[b]
            left_mask.append([self._left_summed or z1 == s for s in range(S)])
            right_mask.append([self._right_summed or z2 == s for s in range(S)])
        return {"columns": np.array(columns), "jac_left": np.array(jac_left), "jac_right": np.array(jac_right),
                "left_mask": np.array(left_mask, dtype=float).T,  # (S, F)
                "right_mask": np.array(right_mask, dtype=float).T}

    # ---- the maths -------------------------------------------------------------------------------

    def angular(self, x: Tensor, y: Tensor, z: Tensor, weight: Tensor | None = None) -> Tensor:
        """w r^l Y_lm (GTO) or w Y_lm(r̂) (polynomial) at neighbours of any shape (*P): ((l_max+1)², *P)."""
        if self.rbf == "gto":
            return real_solid_harmonics(x, y, z, self.l_max, weight)
        r2 = x * x + y * y + z * z
        r = torch.sqrt(torch.where(r2 > 1e-12, r2, torch.ones_like(r2)))  # an atom on the centre: only Y_00
        return real_solid_harmonics(x / r, y / r, z / r, self.l_max, weight)

    def angular_gradient(self, vectors: Tensor, theta: Tensor) -> Tensor:
        """∇Θ of the unweighted angular part Θ = :meth:`angular` (L², P) at ``vectors`` (P, 3): (3, L², P).

        GTO: ∇(r^l Y_lm) is a solid harmonic of degree l-1 (:func:`real_solid_harmonics_gradient`).
        Polynomial: Θ = S(r̂) with S = r^l Y_lm homogeneous of degree l, so ∇Θ = (∇S(r̂) - l r̂ S(r̂)) / r.
        """
        grad = real_solid_harmonics_gradient(theta, self.l_max)  # (3, L², P)
        if self.rbf == "gto":
            return grad
        r = torch.linalg.norm(vectors, dim=1)  # (P,) never 0 here (environment_jacobian checks)
        l = torch.repeat_interleave(torch.arange(self.l_max + 1, device=r.device),
                                    torch.tensor(self._per_l, device=r.device)).to(r.dtype)  # (L²,)
        unit = (vectors / r[:, None]).T  # (3, P)
        return (grad - l[:, None] * unit[:, None, :] * theta) / r

    def radial_parts(self, x: Tensor, y: Tensor, z: Tensor, slope: bool = False):
        """For l = 0..l_max, the radial factor of each neighbour (*P) before Σ_j, one l at a time.

        GTO: exp(-γ_lk r²), (n_max, *P). Polynomial: DScribe's numerical integral
        Σ_w projection[n, w] F_l(r_w, r), (n_max, *P), with F_l by upward recursion, quirks kept.
        ``slope=True`` yields pairs (R, R'/r): GTO -2γ R; polynomial the recursion differentiated
        (not at r = 0, where DScribe's numerics have no derivative).
        """
        r2 = x * x + y * y + z * z
        column = (-1,) + (1,) * r2.dim()
        if self.rbf == "gto":  # l by l: each (n_max, *P) is used while it is in cache
            for gamma in self.gamma.to(r2.dtype):
                gamma = gamma.reshape(column)
                values = torch.exp(-gamma * r2)
                yield (values, -2 * gamma * values) if slope else values
            return
        eta, rw = self.eta, self.grid.to(r2.dtype).reshape(column)  # (W, 1...)
        centre = r2 <= 1e-12  # DScribe's test for an atom on the centre
        r = torch.sqrt(torch.where(centre, torch.ones_like(r2), r2))
        minus = torch.where(rw - r > 5.0, 0.0, torch.exp(-eta * (rw - r) ** 2))  # DScribe's hard-coded 5 Å
        plus = torch.where(rw + r > 5.0, 0.0, torch.exp(-eta * (rw + r) ** 2))
        inverse = 1 / (4 * eta * rw * r)  # (W, *P)
        projection = self.projection.to(r2.dtype)
        f = [inverse * (minus - plus)]  # F_0 = e^(-η(r² + r_j²)) sinh(2η r r_j) / (2η r r_j)
        f.append(inverse * (minus + plus - 2 * f[0]))  # F_1
        if slope:  # the same recursion for dF_l/dr
            d_minus, d_plus, d_inverse = 2 * eta * (rw - r) * minus, -2 * eta * (rw + r) * plus, -inverse / r
            df = [d_inverse * (minus - plus) + inverse * (d_minus - d_plus)]
            df.append(d_inverse * (minus + plus - 2 * f[0]) + inverse * (d_minus + d_plus - 2 * df[0]))
        at_centre = [torch.exp(-eta * rw**2)]  # F_l(r, 0): e^(-η r²) for l = 0, 0 above
        for l in range(self.l_max + 1):
            if l >= 2:
                unclamped = f[l - 2] - (4 * l - 2) * inverse * f[l - 1]
                f.append(torch.clamp(unclamped, min=0.0))  # DScribe's clamp
                if slope:
                    d = df[l - 2] - (4 * l - 2) * (d_inverse * f[l - 1] + inverse * df[l - 1])
                    df.append(torch.where(unclamped >= 0, d, 0.0))
            values = torch.where(centre, at_centre[0] if l == 0 else 0.0, f[l])  # (W, *P)
            values = (projection @ values.reshape(len(projection[0]), -1)).reshape((-1,) + r2.shape)
            if slope:
                d = (projection @ (df[l] / r).reshape(len(projection[0]), -1)).reshape((-1,) + r2.shape)
                yield values, d
            else:
                yield values

    def expand(self, env: Environments) -> Tensor:
        """Expansion coefficients c (C, S, n_max, (l_max+1)²) of each environment's density.

        The last axis is (l, m) as in :func:`real_solid_harmonics`. The pairs of each (centre,
        species) are laid out on a padded grid so that Σ_j becomes one batched matrix product
        per l; the grid is processed in blocks of centres to keep temporaries small.
        """
        S, n, L = self.n_species, self.n_max, self.l_max + 1
        group = env.centre * S + env.species  # (P,)
        n_groups = env.n_centres * S
        _, slot, width = pad_groups(group, n_groups)
        grid = env.vectors.new_zeros(3, n_groups, width).index_put(
            (torch.arange(3, device=group.device)[:, None], group, slot), env.vectors.T)  # (3, G, M)
        x, y, z = grid[0], grid[1], grid[2]  # (G, M) each
        weight = self._weights(env.vectors, env.species)
        w = env.vectors.new_zeros(n_groups, width).index_put((group, slot), weight)  # 0 in empty slots

        block = max(1, BLOCK_PAIRS // width)
        sums = []  # per block, per l: Σ_j w R_lk(r_j) A_lm(r_j), (b, k, 2l+1)
        # blocks of centres (not atoms one by one); split, not slices: one cheap backward each
        for xb, yb, zb, wb in zip(x.split(block), y.split(block), z.split(block), w.split(block)):
            ylm = self.angular(xb, yb, zb, wb).split(self._per_l)  # (2l+1, b, M) per l
            sums.append([torch.bmm(radial.transpose(0, 1),  # (b, k, M)
                                   ylm[l].permute(1, 2, 0))  # (b, M, 2l+1)
                         for l, radial in enumerate(self.radial_parts(xb, yb, zb))])
        radial = self.radial.to(env.vectors.dtype)
        c = torch.cat([torch.matmul(radial[l], torch.cat([s[l] for s in sums]) if len(sums) > 1 else sums[0][l])
                       for l in range(L)], dim=-1)  # (G, n, L²)
        return c.reshape(env.n_centres, S, n, L * L) + self._self_term(env)

    def _weights(self, vectors: Tensor, species: Tensor) -> Tensor:
        """w_j of every pair: the weighting function times the species weight, (P,)."""
        w = self.species_weights.to(vectors.dtype)[species]
        if self.weighting:
            w = w * soap_basis.density_weights(torch.linalg.norm(vectors, dim=1), self.weighting)
        return w

    def _self_term(self, env: Environments) -> Tensor:
        """The centre atom's own Gaussian at r = 0: l = 0 only, (C, S, n, (l_max+1)²)."""
        S, L = self.n_species, self.l_max + 1
        dtype = env.vectors.dtype
        species = env.self_species.clamp(min=0)
        w = self.species_weights.to(dtype)[species] * (env.self_species >= 0)  # (C,) 0 for a point
        if self.weighting:
            w = w * self.weighting.get("w0", soap_basis.weight_at_zero(self.weighting))
        y00 = 0.5 / math.sqrt(math.pi)
        per_n = self.radial[0].to(dtype) @ self.centre_radial.to(dtype) * y00  # (n,)
        one_hot = torch.nn.functional.one_hot(species, S).to(dtype)  # (C, S)
        term = (w[:, None] * one_hot)[:, :, None] * per_n  # (C, S, n)
        return torch.nn.functional.pad(term[..., None], (0, L * L - 1))

    def _sides(self, c: Tensor) -> tuple[Tensor, Tensor]:
        """The left and right coefficient matrices of the power spectrum, (C, A, L²) and (C, B, L²)."""
        summed = c.sum(1, keepdim=True)
        left = summed if self._left_summed else c
        right = summed if self._right_summed else c
        return left.flatten(1, 2), right.flatten(1, 2)

    def _rows(self, c: Tensor) -> Tensor:
        """Every row the two sides of the power spectrum use, once: (C, R, L²).

        c's S·n rows; the species sum (n rows) for mu2; both (c first) for mu1nu1.
        """
        summed = c.sum(1)  # (C, n, L²)
        if self.compression == "mu2":
            return summed
        if self.compression == "mu1nu1":
            return torch.cat([c.flatten(1, 2), summed], dim=1)
        return c.flatten(1, 2)

    def power_spectrum(self, c: Tensor) -> Tensor:
        """p = π √(8/(2l+1)) Σ_m c c' in DScribe's column order: (C, S, n, L²) -> (C, F)."""
        left, right = (side.split(self._per_l, dim=-1) for side in self._sides(c))  # per l: (C, A or B, 2l+1)
        p = torch.stack([_prefactor(l) * torch.bmm(left[l], right[l].transpose(1, 2))
                         for l in range(self.l_max + 1)], dim=1)  # (C, L, A, B)
        return p.flatten(1)[:, self.columns]

    def soap(self, env: Environments, n_structures: int) -> Tensor:
        """Features of every environment (C, F), or of every structure (B, F) when averaging."""
        c = self.expand(env)
        if self.average == "inner":
            return self.power_spectrum(mean_per_structure(c, env.structure, n_structures))
        p = self.power_spectrum(c)
        return mean_per_structure(p, env.structure, n_structures) if self.average == "outer" else p

    def features(self, batch: Batch, nbrs: Neighbors, vectors: Tensor | None = None) -> Tensor:
        """Every atom's SOAP (N, F); with averaging one row per structure (B, F)."""
        env = atom_environments(batch, nbrs, self.species_index(batch), vectors=vectors)
        return self.soap(env, batch.n_structures)

    # ---- the pair Jacobian, analytic ---------------------------------------------------------

    def pair_jacobian(self, batch: Batch, nbrs: Neighbors | None = None) -> tuple[Tensor, Neighbors, Tensor]:
        """G (N, F), the neighbour list, and J (P, F, 3) = ∂G_{i_p}/∂r_p (see :class:`Descriptor`).

        With averaging, G is (B, F) and J_p the derivative of its structure's row. The fast exact
        route of :meth:`environment_jacobian` (tests hold it to the general one to 1e-12).
        """
        nbrs = self.neighbors(batch) if nbrs is None else nbrs
        with torch.no_grad():
            env = atom_environments(batch, nbrs, self.species_index(batch))
            G, J = self.soap(env, batch.n_structures), self.environment_jacobian(env, batch.n_structures)
        return G, nbrs, J

    def environment_jacobian(self, env: Environments, n_structures: int = 1) -> Tensor:
        """∂p_c/∂r_p of every pair p of the environments, (P, F, 3), c the pair's centre (or its
        structure when averaging); r_p = r_j relative to the centre. Analytic, no autograd.

        Pair p adds t[n, lm] = ρ_ln(r) Θ_lm(r_p) to its centre's coefficients of its species, with
        ρ_ln = w(r) Σ_k radial[l, n, k] R_lk(r) (weight times radial part, :meth:`pair_radial`) and
        Θ = r^l Y_lm (GTO) or Y_lm(r̂) (polynomial). The product rule gives

            ∂t[n, lm]/∂r_α = ρ'_ln(r) (r_α / r) Θ_lm + ρ_ln ∂_α Θ_lm.

        The power spectrum is bilinear, p_AB = pref_l Σ_m left_A,lm right_B,lm, so a pair changes it
        by pref_l (∂left_A · right_B + left_A · ∂right_B): each half is the pair's ∂t times ONE
        coefficient row c_R of its centre (R: a row of ``left`` or ``right``, :meth:`_rows`),

            D[n, R, α] = Σ_m ∂_α t[n, lm] c_R,lm = (ρ'_ln / r) r_α X_R + ρ_ln Y_R,α,
            X_R = Σ_m Θ_lm c_R,lm,        Y_R,α = Σ_m ∂_α Θ_lm c_R,lm.

        X and Y (4 numbers per pair, l and row) are one batched matrix product per l over a block
        of centres (pairs padded per centre); D's entries are then picked into DScribe's columns
        (``jac_left`` and ``jac_right``), keeping a half only when the pair's species owns its row.
        """
        L, n, F = self.l_max + 1, self.n_max, self.get_number_of_features()
        if self.rbf == "polynomial" and bool(((env.vectors**2).sum(1) <= 1e-12).any()):
            raise ValueError("with rbf='polynomial' an atom sitting on a centre (attach=False moves the "
                             "centre atom itself) has no derivative in DScribe's numerics: "
                             "use attach=True or rbf='gto'")
        c = self.expand(env)  # (C, S, n, L²)
        scale = torch.ones(env.n_centres, dtype=c.dtype, device=c.device)  # (C,)
        if self.average == "inner":  # every centre sees its structure's averaged coefficients
            c = mean_per_structure(c, env.structure, n_structures)[env.structure]
        if self.average != "off":  # each centre's share of the average
            scale = 1.0 / torch.bincount(env.structure, minlength=n_structures).to(c.dtype)[env.structure]
        rows = self._rows(c)  # (C, R, L²)
        n_rows = rows.shape[1]
        prefactor = torch.tensor([_prefactor(l) for l in range(L)], dtype=c.dtype, device=c.device)

        order = torch.argsort(env.centre, stable=True)  # pairs grouped by centre
        counts, slot, width = pad_groups(env.centre, env.n_centres)
        ends = [0] + torch.cumsum(counts, 0).tolist()
        jacobian = c.new_empty(len(env.centre), F, 3)  # (P, F, 3), pairs in ``order``
        block = max(1, BLOCK_JACOBIAN_PAIRS // width)
        for start in range(0, env.n_centres, block):  # blocks of centres, bounded memory
            stop = min(start + block, env.n_centres)
            b, pairs = stop - start, order[ends[start]:ends[stop]]
            centre, where, s = env.centre[pairs] - start, slot[pairs], env.species[pairs]
            vectors = env.vectors[pairs]  # (p, 3)
            rho, slope = self.pair_radial(vectors, s)  # (L, n, p) each: ρ and ρ'/r
            share = prefactor[:, None, None] * scale[env.centre[pairs]]  # (L, 1, p): pref_l, average
            rho, slope = rho * share, slope * share  # (L, n, p)
            theta = self.angular(vectors[:, 0], vectors[:, 1], vectors[:, 2])  # (L², p)
            angular = torch.cat([theta[None], self.angular_gradient(vectors, theta)])  # (4, L², p): Θ, ∇Θ
            slots = centre * width + where  # (p,) each pair's slot among its centre's
            padded = c.new_zeros(b * width, 4 * L * L).index_copy_(0, slots, angular.flatten(0, 1).T.contiguous())
            padded = padded.view(b, width, 4, L * L)  # (b, M, 4, L²): the pairs of each centre
            xy = torch.stack([torch.bmm(padded[..., l * l:(l + 1) ** 2].reshape(b, width * 4, 2 * l + 1),
                                        rows[start:stop, :, l * l:(l + 1) ** 2].transpose(1, 2))  # (b, M·4, R)
                              .view(b * width, 4, n_rows).index_select(0, slots) for l in range(L)])  # (L, p, 4, R)
            xy = xy.permute(0, 3, 2, 1).contiguous()  # (L, R, 4, p): X, Y_x, Y_y, Y_z
            x_r = xy[:, :, :1] * vectors.T  # (L, R, 3, p): X_R r_α
            for lo in range(0, len(pairs), CHUNK_PAIRS):  # D and its picks in chunks that stay in cache
                q = slice(lo, lo + CHUNK_PAIRS)
                # D[l, n, R, α] for every pair (pairs last: long contiguous rows for the products and picks)
                d = torch.mul(slope[:, :, None, None, q], x_r[:, None, ..., q],
                              out=c.new_empty((L, n, n_rows, 3) + x_r[..., q].shape[-1:]))
                d = d.addcmul_(rho[:, :, None, None, q], xy[:, None, :, 1:, q]).flatten(0, 2)  # (L·n·R, 3, p)
                left, right = d[self.jac_left], d[self.jac_right]  # (F, 3, p): ∂left·right, left·∂right
                if self.n_species > 1:  # the neighbour perturbs only its own element's rows
                    left = left * self.left_mask[s[q]].T[:, None]
                    right = right * self.right_mask[s[q]].T[:, None]
                first = ends[start] + lo
                jacobian[first:first + d.shape[-1]] = (left + right).permute(2, 0, 1)  # (p, F, 3)
        if bool((order[1:] < order[:-1]).any()):  # pairs were not grouped by centre: put them back
            jacobian = torch.empty_like(jacobian).index_copy_(0, order, jacobian)
        return jacobian

    def pair_radial(self, vectors: Tensor, species: Tensor) -> tuple[Tensor, Tensor]:
        """ρ_ln = w Σ_k radial[l,n,k] R_lk of each pair and ρ'_ln / r (0 at r = 0): (L, n, P) each.

        ρ' = w' Σ_k radial R + w Σ_k radial R' (product rule); R'/r from :meth:`radial_parts`.
        """
        r = torch.linalg.norm(vectors, dim=1)  # (P,)
        w = self._weights(vectors, species)  # (P,)
        w_slope = torch.zeros_like(r)  # w'(r) / r
        if self.weighting:
            slope = soap_basis.density_weights_slope(r, self.weighting) * self.species_weights.to(r.dtype)[species]
            w_slope = torch.where(r > 0, slope / torch.where(r > 0, r, torch.ones_like(r)), 0.0)
        radial = self.radial.to(vectors.dtype)  # (L, n, k)
        rho, rho_slope = [], []
        for l, (part, part_slope) in enumerate(self.radial_parts(*vectors.T, slope=True)):  # (k, P) each
            rho.append(radial[l] @ (w * part))
            rho_slope.append(radial[l] @ (w_slope * part + w * part_slope))
        return torch.stack(rho), torch.stack(rho_slope)

    def config(self) -> dict:
        """The constructor's arguments as plain Python: ``SOAP(**soap.config())`` is the same SOAP."""
        compression = {"mode": self.compression}
        if self._species_weighting is not None:
            compression["species_weighting"] = dict(self._species_weighting)
        return {"species": self.species_symbols, "r_cut": self.r_cut, "n_max": self.n_max,
                "l_max": self.l_max,
                "sigma": self.sigma, "rbf": self.rbf, "weighting": dict(self.weighting) or None,
                "average": self.average, "compression": compression, "periodic": self.periodic}

    def extra_repr(self) -> str:
        return (f"species={self.species_symbols}, r_cut={self.r_cut}, n_max={self.n_max}, "
                f"l_max={self.l_max}, "
                f"sigma={self.sigma}, average={self.average!r}, compression={self.compression!r}, "
                f"periodic={self.periodic}")


# ---- small helpers -------------------------------------------------------------------------------


def _prefactor(l: int) -> float:
    """π √(8 / (2l+1)): DScribe's normalisation of the power spectrum (SOAP paper erratum)."""
    return math.pi * math.sqrt(8.0 / (2 * l + 1))
