"""The cosine cutoff function that makes a descriptor smooth at r_cut (notebook 04).

    f_c(r) = ½ [cos(π r / r_cut) + 1]     for r ≤ r_cut,   0 beyond

f_c falls from 1 at r = 0 to 0 at r_cut with zero slope there, so an atom crossing the
cutoff sphere changes every feature (and its force) continuously. Behler, J. Chem. Phys. 134,
074106 (2011), eq. 4; the same function DScribe's ACSF uses.
"""

from __future__ import annotations

import math

import torch


def cosine_cutoff(r: torch.Tensor, r_cut: float) -> torch.Tensor:
    """f_c(r) = ½(cos(π r / r_cut) + 1) inside the cutoff, 0 outside; any shape, differentiable."""
    # Beyond r_cut the clamp gives cos(π) = -1 exactly: f_c = 0 with a zero gradient.
    return 0.5 * (torch.cos(math.pi * (r.clamp(max=r_cut) / r_cut)) + 1.0)
