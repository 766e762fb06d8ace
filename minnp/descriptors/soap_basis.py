"""The ingredients of SOAP's neighbour density: radial bases and weights (notebook 05).

:mod:`minnp.descriptors.soap` expands the density in these; the numbers are DScribe 2.1's.

- GTO basis: for each l, n_max Gaussians r^l exp(-α_lk r²) decaying to 10⁻³ at
  a_k = linspace(1, r_cut, n_max), α_lk = (ln 1000 + l ln a_k) / a_k², Löwdin-orthonormalised
  with β_l = S_l^(-1/2) from their overlap S_l[k,k'] = ½ Γ(l + 3/2) (α_lk + α_lk')^-(l+3/2).
- Polynomial basis: g_n(r) = Σ_k β_nk (r_cut - r)^(k+2), orthonormal on [0, r_cut], on DScribe's
  100-point Gauss–Legendre grid.
- Weighting: w(r) of each neighbour's Gaussian, x = r / r0: poly c (1 + 2x³ - 3x²)^m (x ≤ 1),
  pow c / (d + x^m), exp c / (d + e^-x); ``w0`` for an atom exactly on the centre. DScribe's
  checks on the weighting dict and its rule for r_cut when none is given are here too; dw/dr
  for the analytic derivatives.
- Species weights: ``compression["species_weighting"]``, one factor per species' density.

The overlap matrices are badly conditioned (cond ~10⁸–10¹³), so β is computed with exactly
DScribe's SciPy calls, ``sqrtm(inv(S))`` in float64, and handed to torch as a constant.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.special
import torch
from ase.data import chemical_symbols

from minnp.batch import atomic_numbers

Tensor = torch.Tensor

GAUSSIAN_THRESHOLD = 1e-3  # DScribe's: the neighbour Gaussians and the GTOs decay to this


def gto_basis(r_cut: float, n_max: int, l_max: int) -> tuple[np.ndarray, np.ndarray]:
    """DScribe's GTO radial basis: α (l_max+1, n_max) and Löwdin β (l_max+1, n_max, n_max), float64.

    g_nl(r) = Σ_k β[l, n, k] r^l exp(-α[l, k] r²) is orthonormal on [0, ∞) with weight r².
    """
    a = np.linspace(1, r_cut, n_max)  # where each Gaussian has decayed to 10⁻³
    alphas = np.zeros((l_max + 1, n_max))
    betas = np.zeros((l_max + 1, n_max, n_max))
    for l in range(l_max + 1):
        alpha = -np.log(GAUSSIAN_THRESHOLD / np.power(a, l)) / a**2
        overlap = 0.5 * scipy.special.gamma(l + 1.5) * (alpha[:, None] + alpha[None, :]) ** (-l - 1.5)
        beta = scipy.linalg.sqrtm(scipy.linalg.inv(overlap))  # exactly DScribe's calls
        if np.iscomplexobj(beta):
            raise ValueError(
                f"the GTO basis cannot be orthonormalised for r_cut={r_cut}, n_max={n_max} (l={l}): "
                "the overlap matrix is too ill-conditioned; lower n_max or raise r_cut"
            )
        alphas[l], betas[l] = alpha, beta
    return alphas, betas


def polynomial_basis(r_cut: float, n_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DScribe's polynomial radial basis on its 100-point Gauss–Legendre grid in [0, r_cut].

    Returns the grid r_w (W,), its quadrature weights (W,) for ∫_{-1}^{1}, and the orthonormal
    g_n(r_w) (n_max, W), g_n = Σ_k β_nk (r_cut - r)^(k+2) with β = S^(-1/2) from the analytic
    overlap S_kk' = 2 r_cut^(7+k+k') / ((5+k+k')(6+k+k')(7+k+k')).
    """
    k = np.arange(1, n_max + 1)
    kk = k[:, None] + k[None, :]
    overlap = 2 * r_cut ** (7.0 + kk) / ((5 + kk) * (6 + kk) * (7 + kk))
    beta = scipy.linalg.sqrtm(np.linalg.inv(overlap))  # exactly DScribe's calls
    if np.iscomplexobj(beta):
        raise ValueError(f"the polynomial basis cannot be orthonormalised for r_cut={r_cut}, n_max={n_max}: "
                         "lower n_max")
    x, weights = np.polynomial.legendre.leggauss(100)
    r = r_cut * (x + 1) / 2
    return r, weights, beta @ (r_cut - np.clip(r, 0, r_cut)) ** (k[:, None] + 2.0)


def density_weights(r: Tensor, weighting: dict) -> Tensor:
    """w(r) of each neighbour Gaussian for a DScribe ``weighting`` dict (1 without a function).

    ``w0`` replaces the weight of an atom exactly on the centre (r == 0).
    """
    function = weighting.get("function")
    if function is None:
        w = torch.ones_like(r)
    else:
        safe_r = torch.where(r == 0, torch.ones_like(r), r)  # no NaN gradient through r = 0
        x = safe_r / weighting["r0"]
        c = weighting["c"]
        if function == "poly":
            w = c * torch.clamp(1 + 2 * x**3 - 3 * x**2, min=0) ** weighting["m"]
            w = torch.where(x <= 1, w, torch.zeros_like(w))
        elif function == "pow":
            w = c / (weighting["d"] + x ** weighting["m"])
        else:  # "exp"
            w = c / (weighting["d"] + torch.exp(-x))
        w = torch.where(r == 0, torch.full_like(r, weight_at_zero(weighting)), w)
    if "w0" in weighting:
        w = torch.where(r == 0, torch.full_like(r, weighting["w0"]), w)
    return w


def density_weights_slope(r: Tensor, weighting: dict) -> Tensor:
    """dw/dr of :func:`density_weights` (0 without a function, at r = 0 and beyond poly's r0).

    poly: c m (1 + 2x³ - 3x²)^(m-1) (6x² - 6x) / r0;  pow: -c m x^(m-1) / (d + x^m)² / r0;
    exp: c e^-x / (d + e^-x)² / r0.
    """
    function = weighting.get("function")
    if function is None:
        return torch.zeros_like(r)
    safe_r = torch.where(r == 0, torch.ones_like(r), r)
    r0, c = weighting["r0"], weighting["c"]
    x = safe_r / r0
    if function == "poly":
        m = weighting["m"]
        base = torch.clamp(1 + 2 * x**3 - 3 * x**2, min=0)
        slope = c * m * base ** (m - 1) * (6 * x**2 - 6 * x) / r0
        slope = torch.where(x <= 1, slope, torch.zeros_like(slope))
    elif function == "pow":
        m, d = weighting["m"], weighting["d"]
        slope = -c * m * x ** (m - 1) / (d + x**m) ** 2 / r0
    else:  # "exp"
        e = torch.exp(-x)
        slope = c * e / (weighting["d"] + e) ** 2 / r0
    return torch.where(r == 0, torch.zeros_like(slope), slope)


def weight_at_zero(weighting: dict) -> float:
    """w(0) of a weighting function (before ``w0``): the weight of the centre atom itself."""
    function, c = weighting.get("function"), weighting.get("c", 1.0)
    if function == "poly":
        return c
    if function == "pow":
        return c / weighting["d"] if weighting["d"] else math.inf
    if function == "exp":
        return c / (weighting["d"] + 1.0)
    return 1.0


def check_weighting(weighting: dict | None) -> dict:
    """DScribe's checks on the weighting dict; returns a cleaned copy (floats, defaults)."""
    if not weighting:
        return {}
    w = dict(weighting)
    if "w0" in w:
        if w["w0"] < 0:
            raise ValueError(f"weighting w0 must be ≥ 0 (the weight of an atom on the centre), got {w['w0']}")
        w["w0"] = float(w["w0"])
    function = w.get("function")
    if function is None:
        return w
    if function not in ("poly", "pow", "exp"):
        raise ValueError(f"weighting function {function!r} unknown: use 'poly', 'pow' or 'exp'")
    required = {"poly": ("r0", "c", "m"), "pow": ("r0", "c", "d", "m"), "exp": ("r0", "c", "d")}[function]
    for key in required:
        if w.get(key) is None or w[key] < 0 or (key == "r0" and w[key] == 0):
            rule = "> 0" if key == "r0" else "≥ 0"
            raise ValueError(f"weighting '{function}' needs {key} {rule}, got {w.get(key)!r}")
        w[key] = float(w[key])
    if function in ("pow", "exp"):
        w["threshold"] = float(w.get("threshold", 1e-2))
    return w


def infer_r_cut(weighting: dict) -> float:
    """r_cut from the weighting when none is given (DScribe's rule)."""
    function = weighting.get("function")
    if function == "poly":
        return weighting["r0"]
    if function == "pow":
        c, d, m, threshold = weighting["c"], weighting["d"], weighting["m"], weighting["threshold"]
        return weighting["r0"] * (c / threshold - d) ** (1 / m)
    if function == "exp":
        return weighting["r0"] * math.log(weighting["c"] / weighting["threshold"] - weighting["d"])
    raise ValueError("give r_cut, or a weighting function ('poly', 'pow', 'exp') to infer it from")


def species_weights(species_weighting: dict | None, species: list[int]) -> np.ndarray:
    """compression["species_weighting"] as one weight per species index (ones by default)."""
    if species_weighting is None:
        return np.ones(len(species))
    if not isinstance(species_weighting, dict):
        raise ValueError(f"species_weighting must be None or a dict {{species: weight}}, "
                         f"got {species_weighting!r}")
    by_number = {atomic_numbers([k])[0]: float(v) for k, v in species_weighting.items()}
    missing = [chemical_symbols[z] for z in species if z not in by_number]
    extra = [chemical_symbols[z] for z in by_number if z not in species]
    if missing or extra:
        names = [chemical_symbols[z] for z in species]
        raise ValueError(f"species_weighting must give one weight per species {names}"
                         f" (missing {missing}, unknown {extra})")
    return np.array([by_number[z] for z in species])
