"""One plotting style for the whole course: parity plots, learning curves, energy curves, EOS fits,
and structures in 3-D (:func:`view`).

Every notebook calls :func:`style` once and labels its axes with units. Helpers return the
``Axes`` they drew on so a notebook can add to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii, vdw_radii
from ase.data.colors import jmol_colors
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection

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
    _, _, v0, _, v_fit, e_fit, v, e = eos.getplotdata()
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



# ----------------------------------------------------------------------------------------------
# structures in 3-D (notebooks 00, 02, 09, 10)

CHARGE_CMAP = "coolwarm"   # diverging: negative blue, neutral grey, positive red


def _frames(structures) -> list:
    frames = [structures] if isinstance(structures, Atoms) else list(structures)
    if not frames:
        raise ValueError("nothing to show: give one ase.Atoms or a non-empty list of them")
    for k, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            raise TypeError(f"structure {k} is a {type(atoms).__name__}, not an ase.Atoms")
    return frames


def _frame_charges(frames, charges) -> list | None:
    """One (N,) array per frame, or None. ``charges`` is one (N,) array for every frame, or one
    array per frame (a list, or an (n_frames, N) array)."""
    if charges is None:
        return None
    if len(frames) > 1 and len(charges) == len(frames) and all(np.ndim(q) == 1 for q in charges):
        per_frame = [np.asarray(q, dtype=float) for q in charges]
    else:
        per_frame = [np.asarray(charges, dtype=float)] * len(frames)
    for k, (atoms, q) in enumerate(zip(frames, per_frame)):
        if q.shape != (len(atoms),):
            raise ValueError(f"the charges of structure {k} have shape {q.shape}, expected ({len(atoms)},): "
                             "one charge per atom, or one such array per structure")
        if not np.isfinite(q).all():
            raise ValueError(f"the charges of structure {k} contain NaN or infinite values")
    return per_frame


def atom_colors(structures, charges=None, charge_limit: float | None = None, cmap: str = CHARGE_CMAP):
    """The colour (``"#rrggbb"``) of every atom, one list per structure, and the charge limit used.

    Without charges an atom takes its element's Jmol colour (``ase.data.colors.jmol_colors``). With
    charges (e), a diverging colour map from ``-charge_limit`` to ``+charge_limit`` (default: the
    largest |q| of all structures), so that zero is always the map's neutral middle."""
    frames = _frames(structures)
    per_frame = _frame_charges(frames, charges)
    if per_frame is None:
        return [[mpl.colors.to_hex(jmol_colors[z]) for z in atoms.numbers] for atoms in frames], None
    if charge_limit is None:
        charge_limit = max(float(np.abs(q).max(initial=0.0)) for q in per_frame) or 1.0
    if not charge_limit > 0:
        raise ValueError(f"charge_limit must be positive, got {charge_limit}")
    norm, colormap = mpl.colors.Normalize(-charge_limit, charge_limit), mpl.colormaps[cmap]
    return [[mpl.colors.to_hex(c) for c in colormap(norm(q))] for q in per_frame], charge_limit


def _bonds(atoms) -> np.ndarray:
    """Atom pairs (n_bonds, 2) closer than the sum of their covalent radii plus 0.25 Å, the rule
    3Dmol.js draws sticks by (periodic images are not bonded, as in 3Dmol.js)."""
    radius = covalent_radii[atoms.numbers]                                       # (N,) Å
    d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)   # (N, N) Å
    i, j = np.nonzero(np.triu((d < radius[:, None] + radius[None] + 0.25) & (d > 0.7), k=1))
    return np.stack([i, j], axis=1)


def _xyz(atoms, comment: str) -> str:
    """One frame of XYZ text; a periodic cell goes into the comment line as Lattice="..." (extended
    XYZ), which 3Dmol.js reads to draw the unit cell."""
    if atoms.pbc.any() and atoms.cell.rank == 3:
        comment = 'Lattice="' + " ".join(f"{v:.6f}" for v in atoms.cell.array.ravel()) + '" ' + comment
    symbols = atoms.get_chemical_symbols()
    rows = [f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in zip(symbols, atoms.positions)]
    return "\n".join([str(len(atoms)), comment.replace("\n", " ")] + rows) + "\n"


class StructureView:
    """An interactive 3-D view made by :func:`view` with py3Dmol.

    Shown when it is the value of a notebook cell. ``.viewer`` is the ``py3Dmol.view`` (add to it
    with py3Dmol's own methods), ``.colors`` the colour of every atom (one list per structure) and
    :meth:`html` the HTML and JavaScript that draw it. The page loads 3Dmol.js from a CDN when it is
    displayed (Colab, JupyterLab, an exported HTML page opened online); nothing is fetched while
    Python runs."""

    def __init__(self, viewer, colors: list[list[str]], charge_limit: float | None):
        self.viewer, self.colors, self.charge_limit = viewer, colors, charge_limit

    def html(self) -> str:
        return self.viewer.write_html()

    def _ipython_display_(self):
        self.viewer.show()


def _ball_and_stick(colors: list[str]) -> dict:
    """A 3Dmol.js style: spheres and sticks, each atom its own colour, looked up by its serial
    number (0, 1, ... within a frame)."""
    scheme = {"prop": "serial", "map": dict(enumerate(colors))}
    return {"sphere": {"scale": 0.3, "colorscheme": scheme}, "stick": {"radius": 0.12, "colorscheme": scheme}}


def _legend(charge_limit: float, cmap: str) -> list[tuple[str, str]]:
    """Three (text, colour) swatches of the charge colour map: +limit, 0, -limit."""
    norm, colormap = mpl.colors.Normalize(-charge_limit, charge_limit), mpl.colormaps[cmap]
    values = (charge_limit, 0.0, -charge_limit)
    return [(f"q = {q:+.2f} e", mpl.colors.to_hex(colormap(norm(q)))) for q in values]


def _py3dmol_view(py3Dmol, frames, colors, titles, charge_limit, cmap, grid, width, height,
                  interval) -> StructureView:
    label = {"useScreen": True, "fontSize": 12, "fontColor": "black", "backgroundColor": "white",
             "backgroundOpacity": 0.85}
    corner = lambda row: {**label, "position": {"x": 6, "y": 6 + 22 * row, "z": 0}}
    n = len(frames)
    if grid:                    # one viewer per structure, side by side
        viewer = py3Dmol.view(width=width or 220 * n, height=height, viewergrid=(1, n), linked=False)
        panels = [{"viewer": (0, k)} for k in range(n)]
        for k, (atoms, panel) in enumerate(zip(frames, panels)):
            viewer.addModel(_xyz(atoms, titles[k] if titles else ""), "xyz", **panel)
            viewer.setStyle({}, _ball_and_stick(colors[k]), **panel)
            if atoms.pbc.any():
                viewer.addUnitCell(**panel)
            if titles:
                viewer.addLabel(titles[k], corner(0), **panel)
            viewer.zoomTo(**panel)
    else:                       # one viewer, the structures as the frames of an animation
        viewer = py3Dmol.view(width=width or 480, height=height)
        panels = [{}]
        viewer.addModelsAsFrames("".join(_xyz(atoms, titles[k] if titles else f"frame {k}")
                                         for k, atoms in enumerate(frames)), "xyz")
        for k in range(n):
            viewer.setStyle({"frame": k}, _ball_and_stick(colors[k]))
            if titles:
                viewer.addLabel(titles[k], {**corner(0), "frame": k})
        if frames[0].pbc.any() and all(np.allclose(a.cell.array, frames[0].cell.array) for a in frames):
            viewer.addUnitCell()
        if n > 1:
            viewer.animate({"loop": "forward", "interval": interval})
        viewer.zoomTo()
    if charge_limit is not None:
        for row, (text, color) in enumerate(_legend(charge_limit, cmap), start=1 if titles else 0):
            viewer.addLabel(text, {**corner(row), "backgroundColor": color}, **panels[0])
    return StructureView(viewer, colors, charge_limit)


def _matplotlib_view(frames, colors, titles, charge_limit, cmap, grid):
    """A static ball-and-stick figure (matplotlib 3-D): every structure of ``grid``, else the first
    and the last frame."""
    shown = list(range(len(frames))) if grid or len(frames) == 1 else [0, len(frames) - 1]
    # not a pyplot figure: shown once, as the value of a notebook cell, never twice by the inline backend
    fig = Figure(figsize=(3.4 * len(shown) + 1.0, 3.6), layout="constrained")
    axes = []
    for panel, k in enumerate(shown):
        atoms = frames[k]
        ax = fig.add_subplot(1, len(shown), panel + 1, projection="3d")
        x = atoms.positions                                                      # (N, 3) Å
        if atoms.pbc.any() and atoms.cell.rank == 3:                             # the cell's 12 edges
            corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]) @ atoms.cell.array
            edges = [(p, q) for p in range(8) for q in range(p + 1, 8) if (p ^ q).bit_count() == 1]
            cell_edges = Line3DCollection([corners[[p, q]] for p, q in edges], colors="0.6", lw=0.8, ls="--")
            ax.add_collection3d(cell_edges)
        bonds = _bonds(atoms)
        if len(bonds):
            ax.add_collection3d(Line3DCollection(x[bonds], colors="0.45", lw=2.5))
        points = np.vstack([x, corners]) if atoms.pbc.any() and atoms.cell.rank == 3 else x
        centre = (points.max(0) + points.min(0)) / 2                           # (3,) Å
        half = np.ptp(points, axis=0).max() / 2 + 0.8                            # Å, with room for the balls
        # balls of 0.3 van der Waals radii, as 3Dmol.js draws them: their size in points follows the zoom
        radius = 0.3 * np.where(np.isnan(vdw_radii[atoms.numbers]), 2.0, vdw_radii[atoms.numbers])   # (N,) Å
        points_per_angstrom = 0.6 * 72 * 3.4 / (2 * half)
        ax.scatter(*x.T, s=(2 * radius * points_per_angstrom) ** 2, c=colors[k], edgecolors="0.25",
                   linewidths=0.5, depthshade=False, alpha=1.0)
        ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
               zlim=(centre[2] - half, centre[2] + half), box_aspect=(1, 1, 1))   # equal scales: true shapes
        ax.set_axis_off()
        if titles:
            ax.set_title(titles[k])
        else:
            ax.set_title(f"frame {k + 1} of {len(frames)}" if len(frames) > 1 else atoms.get_chemical_formula())
        axes.append(ax)
    if charge_limit is not None:
        mappable = mpl.cm.ScalarMappable(mpl.colors.Normalize(-charge_limit, charge_limit), mpl.colormaps[cmap])
        fig.colorbar(mappable, ax=axes, label="charge (e)", shrink=0.7)
    else:
        symbols = dict.fromkeys(s for k in shown for s in frames[k].get_chemical_symbols())   # in order of appearance
        handles = [mpl.lines.Line2D([], [], ls="", marker="o", ms=9, mfc=jmol_colors[atomic_numbers[s]], mec="0.25",
                                    label=s) for s in symbols]
        fig.legend(handles=handles, loc="outside right center")
    return fig


def view(structures, charges=None, *, titles: Sequence[str] | None = None, grid: bool = False,
         charge_limit: float | None = None, cmap: str = CHARGE_CMAP, width: int | None = None,
         height: int = 320, interval: int = 200, backend: str = "auto"):
    """Show structures in 3-D, balls and sticks, coloured by element or by atomic charge.

    ``structures`` is one ``ase.Atoms`` or a list of them. A list is an MD trajectory: the frames of
    one animated view (``interval`` ms per frame), or with ``grid=True`` separate structures side by
    side (the Si phases of notebook 02). ``charges`` (e), one (N,) array for every structure or one
    per structure, colour the atoms on a diverging map (``cmap``, symmetric about zero up to
    ``charge_limit``, default the largest |q|), with a legend; otherwise each element has its Jmol
    colour. ``titles`` label the structures.

    With py3Dmol installed (``backend="auto"`` or ``"py3Dmol"``) this returns an interactive
    :class:`StructureView` (rotate, zoom; it renders in Colab, JupyterLab and exported HTML, loading
    3Dmol.js from a CDN when shown). Without it (or ``backend="matplotlib"``) it returns a static
    matplotlib ``Figure`` with the same colours: the first and last frame of a trajectory, every
    structure of a grid. Either way, make it the last line of a notebook cell to show it.
    """
    if backend not in ("auto", "py3Dmol", "matplotlib"):
        raise ValueError(f'backend must be "auto", "py3Dmol" or "matplotlib", got {backend!r}')
    frames = _frames(structures)
    if titles is not None and len(titles) != len(frames):
        raise ValueError(f"{len(titles)} titles for {len(frames)} structures; give one title per structure")
    colors, charge_limit = atom_colors(frames, charges, charge_limit, cmap)
    py3Dmol = None
    if backend != "matplotlib":
        try:
            import py3Dmol
        except ImportError:
            if backend == "py3Dmol":
                raise ImportError("py3Dmol is not installed: pip install py3Dmol "
                                  "(or use backend='matplotlib')") from None
    if py3Dmol is not None:
        return _py3dmol_view(py3Dmol, frames, colors, titles, charge_limit, cmap, grid, width, height, interval)
    return _matplotlib_view(frames, colors, titles, charge_limit, cmap, grid)
