"""Lennard-Jones in torch: the smallest energy module, to show the contract.

Notebook 00 runs it; tests check it against ASE's ``LennardJones`` and finite differences.

    u(r) = 4ε[(σ/r)¹² - (σ/r)⁶] - u(r_c)       for r < r_c  (shifted, ASE's default)
    E_i = ½ Σ_j u(r_ij)                        (each pair's energy split between its atoms)

With ``smooth=True`` the unshifted u(r) is multiplied by ASE's cutoff function, which goes
from 1 at r_o to 0 at r_c with zero slope at both ends (in r²). Forces and stress are not
written here: :mod:`minnp.calculator` gets them from autograd.
"""

from __future__ import annotations

import torch

from minnp.batch import Batch


class LennardJones(torch.nn.Module):
    """Lennard-Jones pair potential, same parameters and conventions as ASE's."""

    def __init__(self, epsilon: float = 1.0, sigma: float = 1.0, r_cut: float | None = None,
                 r_o: float | None = None, smooth: bool = False):
        super().__init__()
        self.epsilon = float(epsilon)
        self.sigma = float(sigma)
        self.r_cut = float(r_cut) if r_cut is not None else 3.0 * self.sigma
        self.r_o = float(r_o) if r_o is not None else 0.66 * self.r_cut
        self.smooth = smooth

    def pair_energy(self, r: torch.Tensor) -> torch.Tensor:
        c6 = (self.sigma / r) ** 6
        return 4 * self.epsilon * (c6 * c6 - c6)

    def forward(self, batch: Batch) -> torch.Tensor:
        nbrs = batch.neighbors(self.r_cut)
        r = nbrs.vectors(batch).norm(dim=1)  # (P,)
        u = self.pair_energy(r)
        if self.smooth:
            r2, rc2, ro2 = r * r, self.r_cut**2, self.r_o**2
            switch = (rc2 - r2) ** 2 * (rc2 + 2 * r2 - 3 * ro2) / (rc2 - ro2) ** 3
            u = u * torch.where(r2 < ro2, torch.ones_like(r2), switch)
        else:
            u = u - self.pair_energy(torch.tensor(self.r_cut, dtype=r.dtype))
        energies = torch.zeros_like(batch.positions[:, 0])  # (N,)
        return energies.index_add(0, nbrs.i, 0.5 * u)

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}, sigma={self.sigma}, r_cut={self.r_cut}, smooth={self.smooth}"
