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

The code carries the normalised Q̃_l^m = √2 N_lm Q_l^m (√2 only for m > 0), so the factors
N_lm / N_l-1,m are folded into the recurrence coefficients. The Condon–Shortley sign (-1)^m is
left out: any orthonormal real basis gives the same SOAP power spectrum. There is no division
by r anywhere, so the values and their gradients are finite at r = 0, where only l = 0
survives — exactly what the centre atom of a SOAP environment needs.

Layout: the (l, m) index comes FIRST, row l*l + l + m for m = -l..l, so that every operation
runs over long contiguous rows of points (fast in torch on CPU and GPU).
"""

from __future__ import annotations

import functools
import math

import torch

Tensor = torch.Tensor


def _normalisation(l: int, m: int) -> float:
    """N_lm, times √2 for m ≠ 0 (the real combinations of ±m)."""
    n = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - m) / math.factorial(l + m))
    return n * (math.sqrt(2.0) if m else 1.0)


@functools.lru_cache(maxsize=None)
def _recurrence(l_max: int) -> list[tuple[list[float], list[float], float, float]]:
    """Per l ≥ 1 the coefficients (a_m, b_m, c, d) of the normalised recurrence:

    Q̃_l^m = a_m z Q̃_{l-1}^m - b_m r² Q̃_{l-2}^m  (m ≤ l-2),  Q̃_l^{l-1} = c z Q̃_{l-1}^{l-1},
    Q̃_l^l = d Q̃_{l-1}^{l-1}.
    """
    n = _normalisation
    out = []
    for l in range(1, l_max + 1):
        a = [(2 * l - 1) / (l - m) * n(l, m) / n(l - 1, m) for m in range(l - 1)]
        b = [(l + m - 1) / (l - m) * n(l, m) / n(l - 2, m) for m in range(l - 1)]
        c = (2 * l - 1) * n(l, l - 1) / n(l - 1, l - 1)
        d = (2 * l - 1) * n(l, l) / n(l - 1, l - 1)
        out.append((a, b, c, d))
    return out


def real_solid_harmonics(x: Tensor, y: Tensor, z: Tensor, l_max: int, scale: Tensor | None = None) -> Tensor:
    """r^l Y_lm for l = 0..l_max at points (x, y, z) of any shape S: a tensor ((l_max+1)², *S).

    Row l*l + l + m holds (l, m), m = -l..l (negative m: the sine harmonics), so the rows of
    one l are the slice [l*l, (l+1)*(l+1)). ``scale`` (shape S) multiplies every value at no
    extra cost (it seeds the recurrence); SOAP passes its neighbour weights.

    >>> import torch
    >>> Y = real_solid_harmonics(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([2.0]), 1)
    >>> [round(v, 4) for v in Y[:, 0].tolist()]    # Y_00, then r·Y_1m = √(3/4π)·(y, z, x)
    [0.2821, 0.0, 0.9772, 0.0]
    """
    r2 = x * x + y * y + z * z
    column = (-1,) + (1,) * x.dim()  # broadcasts a per-m coefficient against the points
    # Re and Im of (x + iy)^m, m = 0..l_max (sin for m ≥ 1)
    cos_m, sin_m = [torch.ones_like(x), x], [y]
    for _ in range(2, l_max + 1):
        c, s = cos_m[-1], sin_m[-1]
        cos_m.append(x * c - y * s)
        sin_m.append(x * s + y * c)

    # the normalised Q̃_l^m for m = 0..l, l by l from the two rows before: q[l] is (l+1, *S)
    seed = torch.ones_like(x) if scale is None else scale
    q = [(_normalisation(0, 0) * seed)[None]]
    for l, (a, b, c, d) in enumerate(_recurrence(l_max), start=1):
        low, last = q[l - 1].split([l - 1, 1])  # m ≤ l-2 and m = l-1 (split, not slices: one backward)
        z_last = z * last
        rows = [c * z_last, d * last]  # m = l-1, m = l
        if l >= 2:  # the three-term recurrence for m = 0..l-2
            a_m = torch.tensor(a, dtype=x.dtype, device=x.device).reshape(column)
            b_m = torch.tensor(b, dtype=x.dtype, device=x.device).reshape(column)
            rows.insert(0, a_m * (z * low) - b_m * (r2 * q[l - 2]))
        q.append(torch.cat(rows))

    out = []  # r^l Y_lm = Q̃_l^|m| · (sin|m| for m < 0, cos m for m ≥ 0)
    for l in range(l_max + 1):
        if l:
            out.append(q[l].split([1, l])[1].flip(0) * torch.stack(sin_m[:l][::-1]))  # m = -l..-1
        out.append(q[l] * torch.stack(cos_m[: l + 1]))  # m = 0..l
    return torch.cat(out)  # ((l_max+1)², *S)
