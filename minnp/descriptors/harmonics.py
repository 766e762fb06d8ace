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
    for l, ((a, b, c, d), (a_m, b_m)) in enumerate(zip(_recurrence(l_max), _coefficients(l_max, x.dtype, x.device)),
                                                   start=1):
        low, last = q[l - 1].split([l - 1, 1])  # m ≤ l-2 and m = l-1 (split, not slices: one backward)
        z_last = z * last
        rows = [c * z_last, d * last]  # m = l-1, m = l
        if l >= 2:  # the three-term recurrence for m = 0..l-2
            rows.insert(0, a_m.reshape(column) * (z * low) - b_m.reshape(column) * (r2 * q[l - 2]))
        q.append(torch.cat(rows))

    cos_m = torch.stack(cos_m)  # (l_max+1, *S): cos 0φ .. cos l_max φ
    sin_m = torch.stack(sin_m[::-1])  # (l_max, *S): sin l_max φ .. sin φ
    out = []  # r^l Y_lm = Q̃_l^|m| · (sin|m| for m < 0, cos m for m ≥ 0)
    for l in range(l_max + 1):
        if l:
            out.append(q[l].split([1, l])[1].flip(0) * sin_m[l_max - l:])  # m = -l..-1
        out.append(q[l] * cos_m[: l + 1])  # m = 0..l
    return torch.cat(out)  # ((l_max+1)², *S)


@functools.lru_cache(maxsize=None)
def _coefficients(l_max: int, dtype: torch.dtype, device: torch.device) -> list[tuple[Tensor, Tensor]]:
    """The recurrence's a_m and b_m as tensors (made once per l_max, dtype and device)."""
    return [(torch.tensor(a, dtype=dtype, device=device), torch.tensor(b, dtype=dtype, device=device))
            for a, b, _, _ in _recurrence(l_max)]


@functools.lru_cache(maxsize=None)
def _gradient_table(l_max: int) -> tuple[list, list]:
    """Rows and coefficients of ∂_α (r^l Y_lm) = Σ_t coef[α][t] · (r^(l-1) Y_(l-1)m'), two terms t.

    With ξ = x + iy and the complex Π_l^m = Q_l^m(z, r²) ξ^m (m ≥ 0, Y_lm = K_lm Re or Im Π_l^m,
    K_lm = :func:`_normalisation`), the regular solid harmonics obey, for m ≥ 1,

        ∂_z Π_l^m = (l+m) Π_(l-1)^m,    (∂_x + i∂_y) Π_l^m = -Π_(l-1)^(m+1),
        (∂_x - i∂_y) Π_l^m = (l+m)(l+m-1) Π_(l-1)^(m-1),

    and for m = 0 (Π_l^0 real) (∂_x - i∂_y) Π_l^0 = -conj(Π_(l-1)^1); Π_l^m = 0 for m > l.
    """
    def row(l, m):  # the layout of real_solid_harmonics
        return l * l + l + m

    def re(l, m, c):  # c · Re Π_l^m as (row, coefficient) of the real harmonics
        return (row(l, m), c / _normalisation(l, m)) if m <= l else (0, 0.0)

    def im(l, m, c):  # c · Im Π_l^m
        return (row(l, -m), c / _normalisation(l, m)) if 0 < m <= l else (0, 0.0)

    terms = [[[(0, 0.0), (0, 0.0)] for _ in range((l_max + 1) ** 2)] for _ in range(3)]  # [α][row][t]
    for l in range(1, l_max + 1):
        for m in range(l + 1):
            k, up = _normalisation(l, m), l + m
            if m == 0:
                terms[0][row(l, 0)] = [re(l - 1, 1, -k), (0, 0.0)]
                terms[1][row(l, 0)] = [im(l - 1, 1, -k), (0, 0.0)]
                terms[2][row(l, 0)] = [re(l - 1, 0, k * l), (0, 0.0)]
                continue
            down = up * (up - 1) / 2  # (l+m)(l+m-1)/2
            terms[0][row(l, m)] = [re(l - 1, m - 1, k * down), re(l - 1, m + 1, -k / 2)]  # cos rows
            terms[1][row(l, m)] = [im(l - 1, m - 1, -k * down), im(l - 1, m + 1, -k / 2)]
            terms[2][row(l, m)] = [re(l - 1, m, k * up), (0, 0.0)]
            terms[0][row(l, -m)] = [im(l - 1, m - 1, k * down), im(l - 1, m + 1, -k / 2)]  # sin rows
            terms[1][row(l, -m)] = [re(l - 1, m - 1, k * down), re(l - 1, m + 1, k / 2)]
            terms[2][row(l, -m)] = [im(l - 1, m, k * up), (0, 0.0)]
    rows = [[[t[i][0] for t in per_row] for i in range(2)] for per_row in terms]  # (3, 2, L²)
    coefs = [[[t[i][1] for t in per_row] for i in range(2)] for per_row in terms]
    return rows, coefs


def real_solid_harmonics_gradient(Y: Tensor, l_max: int) -> Tensor:
    """∇(r^l Y_lm) from the values Y ((l_max+1)², *S) of :func:`real_solid_harmonics`: (3, (l_max+1)², *S).

    Each derivative of a degree-l solid harmonic is a solid harmonic of degree l-1: at most two
    rows of Y times constants (:func:`_gradient_table`), so the gradient costs two gathers. A
    ``scale`` given to :func:`real_solid_harmonics` carries through (it is linear).
    """
    rows, coefs = _gradient_tensors(l_max, Y.dtype, Y.device)  # (3, 2, L²) each
    coefs = coefs.reshape((3, 2, -1) + (1,) * (Y.dim() - 1))
    return coefs[:, 0] * Y[rows[:, 0]] + coefs[:, 1] * Y[rows[:, 1]]  # (3, L², *S)


@functools.lru_cache(maxsize=None)
def _gradient_tensors(l_max: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """:func:`_gradient_table` as tensors (made once per l_max, dtype and device)."""
    rows, coefs = _gradient_table(l_max)
    return torch.tensor(rows, device=device), torch.tensor(coefs, dtype=dtype, device=device)
