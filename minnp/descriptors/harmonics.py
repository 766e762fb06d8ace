"""Real solid harmonics r^l Y_lm(r̂) in torch, for every l up to l_max at once.

Notebook 05 (SOAP) introduces them; :mod:`minnp.descriptors.soap` expands the neighbour
density in them.

The real (tesseral) spherical harmonics are, for m > 0, m = 0 and m < 0,

    Y_lm  = √2 N_lm P_l^m(cos θ) cos(mφ)
    Y_l0  =    N_l0 P_l(cos θ)
    Y_l-m = √2 N_lm P_l^m(cos θ) sin(mφ)        N_lm = √((2l+1)/(4π) · (l-m)!/(l+m)!)

and they are orthonormal on the unit sphere. Multiplied by r^l they become polynomials in
x, y, z (the *solid* harmonics), which is how they are computed here:

    r^l P_l^m(cos θ) cos(mφ) = Q_l^m(z, r²) · Re (x + iy)^m
    r^l P_l^m(cos θ) sin(mφ) = Q_l^m(z, r²) · Im (x + iy)^m

with Q_m^m = (2m-1)!!, Q_{m+1}^m = (2m+1) z Q_m^m and, for l ≥ m + 2,

    (l - m) Q_l^m = (2l - 1) z Q_{l-1}^m - (l + m - 1) r² Q_{l-2}^m.

The Condon–Shortley sign (-1)^m is left out: any orthonormal real basis gives the same SOAP
power spectrum. There is no division by r anywhere, so the values and their gradients are
finite at r = 0, where only l = 0 survives — exactly what the centre atom of a SOAP
environment needs.

Layout: the (l, m) index comes FIRST, ``Y[l*l + l + m]`` for m = -l..l, so that every
operation below runs over long contiguous rows of points (fast in torch on CPU and GPU).
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor


def _normalisation(l: int, m: int) -> float:
    """N_lm, times √2 for m ≠ 0 (the real combinations of ±m)."""
    n = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - m) / math.factorial(l + m))
    return n * (math.sqrt(2.0) if m else 1.0)


def real_solid_harmonics(x: Tensor, y: Tensor, z: Tensor, l_max: int) -> Tensor:
    """r^l Y_lm for l = 0..l_max at points (x, y, z) of any shape S: a tensor ((l_max+1)², *S).

    Row l*l + l + m holds (l, m), m = -l..l (negative m: the sine harmonics), so the rows of
    one l are the slice [l*l, (l+1)*(l+1)).

    >>> import torch
    >>> Y = real_solid_harmonics(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([2.0]), 1)
    >>> [round(v, 4) for v in Y[:, 0].tolist()]    # Y_00, then r·Y_1m = √(3/4π)·(y, z, x)
    [0.2821, 0.0, 0.9772, 0.0]
    """
    r2 = x * x + y * y + z * z
    column = (-1,) + (1,) * x.dim()  # broadcasts a per-m vector against the points
    # Re and Im of (x + iy)^m for m = 0..l_max, each (l_max+1, *S)
    cos_m, sin_m = [torch.ones_like(x)], [torch.zeros_like(x)]
    for m in range(1, l_max + 1):
        c, s = cos_m[-1], sin_m[-1]
        cos_m.append(x * c - y * s)
        sin_m.append(x * s + y * c)
    cos_m, sin_m = torch.stack(cos_m), torch.stack(sin_m)

    # Q_l^m for m = 0..l, built l by l from the two rows before: q[l] is (l+1, *S)
    q = [torch.ones_like(x)[None]]
    for l in range(1, l_max + 1):
        diagonal = (2 * l - 1) * q[l - 1][l - 1:]  # Q_l^l
        next_to_diagonal = z * diagonal  # Q_l^{l-1} = (2l-1) z Q_{l-1}^{l-1}
        rows = [next_to_diagonal, diagonal]
        if l >= 2:  # the three-term recurrence for m = 0..l-2
            m = torch.arange(l - 1, dtype=x.dtype, device=x.device).reshape(column)
            rows.insert(0, ((2 * l - 1) * z * q[l - 1][: l - 1] - (l + m - 1) * r2 * q[l - 2]) / (l - m))
        q.append(torch.cat(rows))

    out = []
    for l in range(l_max + 1):
        norm = torch.tensor([_normalisation(l, m) for m in range(l + 1)], dtype=x.dtype, device=x.device)
        q_l = q[l] * norm.reshape(column)  # (l+1, *S)
        out.append((q_l[1:] * sin_m[1: l + 1]).flip(0))  # m = -l..-1
        out.append(q_l * cos_m[: l + 1])  # m = 0..l
    return torch.cat(out)  # ((l_max+1)², *S)
