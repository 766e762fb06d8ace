"""Radial bases and smooth cutoff envelopes: how a message-passing network sees a distance.

Notebook 13 (message passing) uses them; the equivariant networks build on the same functions.

A message-passing network does not feed the bare distance r_ij to its filter networks: it first
expands r in K smooth basis functions e_k(r) (the network then learns any smooth function of r
as a combination of them) and multiplies by an envelope f_c(r) that goes to zero, with zero
slope, at r_cut, so an atom crossing the cutoff sphere changes the energy and the forces
continuously.

Gaussian basis (SchNet; Schütt et al., J. Chem. Phys. 148, 241722 (2018), eq. 11)::

    e_k(r) = exp(-γ (r - μ_k)²),   μ_k = k · r_cut/(K-1), k = 0..K-1,   γ = 1 / (2 Δμ²)

Bessel basis (DimeNet and PaiNN; Gasteiger et al., ICLR 2020, eq. 7)::

    e_k(r) = sqrt(2/r_cut) · sin(k π r / r_cut) / r,   k = 1..K

Envelopes: the cosine cutoff of notebook 04 (:func:`minnp.descriptors.cosine_cutoff`, Behler's
f_c(r) = ½[cos(π r/r_cut) + 1]), and DimeNet's polynomial envelope (eq. 8, p = 6 by default)::

    u(d) = 1 - (p+1)(p+2)/2 · d^p + p(p+2) · d^(p+1) - p(p+1)/2 · d^(p+2),   d = r / r_cut

which is 1 at d = 0 and falls to 0 at d = 1 with zero first and second derivatives.

Everything is a plain function of a distance tensor of any shape (float32 or float64, CPU or
GPU, differentiable); :class:`RadialBasis` bundles a basis and an envelope with the
constructor arguments a checkpoint stores::

    rbf = RadialBasis(r_cut=5.0, n_basis=20, basis="gaussian", envelope="cosine")
    e = rbf(r)            # (P, K) = e_k(r_p) · f_c(r_p), exactly 0 for r ≥ r_cut
"""

from __future__ import annotations

import math

import torch

from minnp.descriptors.cutoff import cosine_cutoff

Tensor = torch.Tensor
__all__ = ["BASES", "ENVELOPES", "RadialBasis", "bessel_basis", "cosine_cutoff", "gaussian_basis",
           "polynomial_envelope"]


def gaussian_basis(r: Tensor, r_cut: float, n_basis: int) -> Tensor:
    """SchNet's Gaussians exp(-γ(r - μ_k)²) on a uniform grid μ_k from 0 to r_cut: (..., K)."""
    mu = torch.linspace(0.0, r_cut, n_basis, dtype=r.dtype, device=r.device)  # (K,)
    gamma = 0.5 / (r_cut / (n_basis - 1)) ** 2  # width = grid spacing
    return torch.exp(-gamma * (r[..., None] - mu) ** 2)  # (..., K)


def bessel_basis(r: Tensor, r_cut: float, n_basis: int) -> Tensor:
    """DimeNet's spherical Bessel functions sqrt(2/r_cut) sin(kπr/r_cut)/r, k = 1..K: (..., K).

    Finite at r → 0 (the limit is sqrt(2/r_cut) kπ/r_cut); r = 0 never occurs between two atoms.
    """
    k = torch.arange(1, n_basis + 1, dtype=r.dtype, device=r.device)  # (K,)
    r = r[..., None]  # (..., 1)
    return math.sqrt(2.0 / r_cut) * torch.sin(k * math.pi * r / r_cut) / r  # (..., K)


def polynomial_envelope(r: Tensor, r_cut: float, p: int = 6) -> Tensor:
    """DimeNet's envelope u(r/r_cut): 1 at 0, 0 at r_cut with zero slope and curvature; 0 beyond."""
    d = (r / r_cut).clamp(max=1.0)
    u = 1 - (p + 1) * (p + 2) / 2 * d**p + p * (p + 2) * d ** (p + 1) - p * (p + 1) / 2 * d ** (p + 2)
    return torch.where(r < r_cut, u, torch.zeros_like(u))


BASES = {"gaussian": gaussian_basis, "bessel": bessel_basis}
ENVELOPES = {"cosine": cosine_cutoff, "polynomial": polynomial_envelope}


class RadialBasis(torch.nn.Module):
    """e_k(r) · f_c(r) for K basis functions: distances (...,) -> (..., K), zero beyond r_cut.

    ``basis``: "gaussian" (SchNet) or "bessel" (DimeNet, PaiNN); ``envelope``: "cosine"
    (notebook 04's f_c) or "polynomial" (DimeNet's, p = 6). No trainable parameters.
    """

    def __init__(self, r_cut: float, n_basis: int = 20, basis: str = "gaussian", envelope: str = "cosine"):
        super().__init__()
        if not (isinstance(r_cut, (int, float)) and math.isfinite(r_cut) and r_cut > 0):
            raise ValueError(f"r_cut must be a positive distance in Å, got {r_cut!r}: e.g. r_cut=5.0")
        if not (isinstance(n_basis, int) and n_basis >= 2):
            raise ValueError(f"n_basis must be an integer ≥ 2 (basis functions per distance), got {n_basis!r}")
        if basis not in BASES:
            raise ValueError(f"basis {basis!r} is not available; choose one of {sorted(BASES)}")
        if envelope not in ENVELOPES:
            raise ValueError(f"envelope {envelope!r} is not available; choose one of {sorted(ENVELOPES)}")
        self.r_cut, self.n_basis, self.basis, self.envelope = float(r_cut), n_basis, basis, envelope

    def config(self) -> dict:
        return {"r_cut": self.r_cut, "n_basis": self.n_basis, "basis": self.basis, "envelope": self.envelope}

    def forward(self, r: Tensor) -> Tensor:
        e = BASES[self.basis](r, self.r_cut, self.n_basis)  # (..., K)
        return e * ENVELOPES[self.envelope](r, self.r_cut)[..., None]  # (..., K)

    def extra_repr(self) -> str:
        return f"r_cut={self.r_cut}, n_basis={self.n_basis}, basis={self.basis!r}, envelope={self.envelope!r}"
