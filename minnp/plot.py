"""One plotting style for the whole course: parity plots, learning curves, energy curves, EOS fits.

Every notebook calls :func:`style` once and labels its axes with units. Helpers return the
``Axes`` they drew on so a notebook can add to them.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

COLORS = ["#0b5394", "#cc4125", "#6aa84f", "#e69138", "#674ea7", "#45818e", "#a61c00", "#3c78d8"]


def style() -> None:
    """The course style: readable on a projector and in a notebook, colour-blind-safe order."""
    mpl.rcParams.update({
        "figure.figsize": (5.5, 4.0),
        "figure.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=COLORS),
        "font.size": 11,
        "legend.frameon": False,
        "lines.linewidth": 1.8,
    })


def _ax(ax):
    return ax if ax is not None else plt.subplots()[1]


def parity(reference, predicted, quantity: str = "energy", unit: str = "eV/atom", ax=None,
           label: str | None = None, error: str = "RMSE"):
    """Predicted against reference values with the diagonal and the error in the legend:
    ``error="RMSE"`` (root-mean-square) or ``"MAE"`` (mean absolute), whichever the text uses."""
    if error not in ("RMSE", "MAE"):
        raise ValueError(f'error must be "RMSE" or "MAE", got {error!r}')
    ax = _ax(ax)
    reference = np.asarray(reference).ravel()
    predicted = np.asarray(predicted).ravel()
    deviation = predicted - reference
    value = float(np.sqrt(np.mean(deviation**2))) if error == "RMSE" else float(np.mean(np.abs(deviation)))
    text = f"{error} {value:.3g} {unit}"
    ax.scatter(reference, predicted, s=8, alpha=0.6, label=f"{label}: {text}" if label else text)
    lo, hi = min(reference.min(), predicted.min()), max(reference.max(), predicted.max())
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=1, ls="--")
    ax.set_xlabel(f"reference {quantity} ({unit})")
    ax.set_ylabel(f"predicted {quantity} ({unit})")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper left")
    return ax


def learning_curve(history: Mapping[str, Sequence[float]], keys: Sequence[str] | None = None,
                   unit: str = "", ax=None, xlabel: str = "epoch"):
    """Metrics against epoch on a log scale (``history`` maps a metric name to its values)."""
    ax = _ax(ax)
    for key in keys or [k for k in history if k != "epoch"]:
        values = np.asarray(history[key], dtype=float)
        ax.plot(np.asarray(history.get("epoch", np.arange(1, len(values) + 1))), values, label=key)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"error ({unit})" if unit else "error")
    ax.legend()
    return ax


def energy_curve(x, energies: Mapping[str, Sequence[float]], xlabel: str = "volume (Å³/atom)",
                 ylabel: str = "energy (eV/atom)", ax=None):
    """Several energy curves on one shared x (e.g. E–V curves of phases or of potentials)."""
    ax = _ax(ax)
    for name, e in energies.items():
        ax.plot(x, e, marker="o", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def eos_fit(eos, label: str | None = None, ax=None, unit: str = "eV/atom"):
    """An equation-of-state fit as the notebooks show it (00, 01): the computed E(V) points, the
    fitted curve through them and its minimum V₀ marked. ``eos`` is an ASE ``EquationOfState``
    (fitted here if it was not yet)."""
    ax = _ax(ax)
    _, e0, v0, _, v_fit, e_fit, v, e = eos.getplotdata()
    (line,) = ax.plot(v_fit, e_fit, label=f"{label}: {eos.eos_string} fit" if label else f"{eos.eos_string} fit")
    ax.plot(v, e, "o", ms=4, color=line.get_color(), label="computed")
    ax.axvline(v0, color="0.5", ls=":", label=f"$V_0$ = {v0:.2f} Å³/atom")
    ax.set_xlabel("volume (Å³/atom)")
    ax.set_ylabel(f"energy ({unit})")
    ax.legend()
    return ax


def size_axis(ax, sizes: Sequence[int], label: str = "training structures") -> None:
    """A logarithmic x axis of training-set sizes, ticked at exactly those sizes (learning curves in
    notebooks 11 and 14): plain numbers, no crowded minor-tick labels inside one decade."""
    ax.set_xscale("log")
    ax.set_xticks(list(sizes), [str(n) for n in sizes])
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.set_xlabel(label)
