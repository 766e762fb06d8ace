"""minnp.plot.view: structures in 3-D, with py3Dmol (interactive) and without it (a matplotlib figure)."""

import io
import json
import re
import sys

import matplotlib as mpl
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Path3DCollection

import minnp.plot

CHAIN = Atoms("HC4H", positions=[[0, 0, -1.06], [0, 0, 0], [0, 0, 1.21], [0, 0, 2.57], [0, 0, 3.78], [0, 0, 4.84]])
CHARGES = np.array([0.12, -0.30, 0.05, 0.0, -0.07, 0.20])          # e; the largest |q| is 0.30


def expected_hex(charges, limit):
    """The diverging colour of each charge, straight from matplotlib's colour map."""
    rgba = mpl.colormaps["coolwarm"]((np.asarray(charges) + limit) / (2 * limit))
    return ["#" + "".join(f"{round(255 * c):02x}" for c in row[:3]) for row in rgba]


def js_calls(html, name):
    """The JSON arguments of every call ``.name(...)`` in the viewer's JavaScript."""
    decoder, calls = json.JSONDecoder(), []
    for match in re.finditer(rf"\.{name}\(", html):
        args, at = [], match.end()
        while html[at] != ")":
            value, at = decoder.raw_decode(html, at)
            args.append(value)
            at += html[at] == ","
        calls.append(args)
    return calls


def xyz_frames(text):
    """(symbols, positions) of every frame of an XYZ text."""
    lines, frames = text.splitlines(), []
    while lines:
        n = int(lines[0])
        rows = [line.split() for line in lines[2:2 + n]]
        frames.append(([r[0] for r in rows], np.array([[float(v) for v in r[1:4]] for r in rows])))
        lines = lines[2 + n:]
    return frames


@pytest.fixture
def no_py3dmol(monkeypatch):
    monkeypatch.setitem(sys.modules, "py3Dmol", None)       # `import py3Dmol` now raises ImportError


def test_py3dmol_view_holds_every_atom_and_colours_it_by_its_charge():
    pytest.importorskip("py3Dmol")
    shown = minnp.plot.view(CHAIN, charges=CHARGES)
    html = shown.html()
    assert "3Dmol" in html and "https://" in html           # 3Dmol.js comes from a CDN when the page is shown
    [(text, fmt)] = js_calls(html, "addModelsAsFrames")
    [(symbols, positions)] = xyz_frames(text)
    assert fmt == "xyz" and symbols == CHAIN.get_chemical_symbols()
    np.testing.assert_allclose(positions, CHAIN.positions, atol=1e-6)
    [(selection, style)] = js_calls(html, "setStyle")
    assert selection == {"frame": 0}
    colours = style["sphere"]["colorscheme"]
    assert colours["prop"] == "serial" and style["stick"]["colorscheme"] == colours
    assert [colours["map"][str(i)] for i in range(len(CHAIN))] == expected_hex(CHARGES, 0.30)
    legend = {args[0]: args[1]["backgroundColor"] for args in js_calls(html, "addLabel")}
    assert legend == dict(zip(["q = +0.30 e", "q = +0.00 e", "q = -0.30 e"], expected_hex([0.30, 0.0, -0.30], 0.30)))


def test_zero_charge_is_the_neutral_middle_of_the_colour_map():
    colours, limit = minnp.plot.atom_colors(CHAIN, [0.0, 0.5, -0.1, 0.0, 0.0, 0.0])
    assert limit == 0.5
    assert colours[0][0] == mpl.colors.to_hex(mpl.colormaps["coolwarm"](0.5))
    assert colours[0][1] == mpl.colors.to_hex(mpl.colormaps["coolwarm"](1.0))


def test_without_charges_atoms_take_their_element_colour():
    from ase.data.colors import jmol_colors

    colours, limit = minnp.plot.atom_colors(CHAIN)
    assert limit is None
    assert colours[0][:2] == [mpl.colors.to_hex(jmol_colors[1]), mpl.colors.to_hex(jmol_colors[6])]


def test_a_trajectory_becomes_the_frames_of_one_animated_view():
    pytest.importorskip("py3Dmol")
    frames = [CHAIN.copy() for _ in range(4)]
    for k, atoms in enumerate(frames):
        atoms.positions[:, 0] += 0.1 * k
    per_frame = [CHARGES * (1 + k) / 4 for k in range(4)]
    html = minnp.plot.view(frames, charges=per_frame).html()
    [(text, _)] = js_calls(html, "addModelsAsFrames")
    parsed = xyz_frames(text)
    assert len(parsed) == 4 and all(len(symbols) == len(CHAIN) for symbols, _ in parsed)
    np.testing.assert_allclose(parsed[3][1], frames[3].positions, atol=1e-6)
    styles = js_calls(html, "setStyle")
    assert [selection for selection, _ in styles] == [{"frame": k} for k in range(4)]
    for k, (_, style) in enumerate(styles):                  # each frame coloured by its own charges
        assert list(style["sphere"]["colorscheme"]["map"].values()) == expected_hex(per_frame[k], 0.30)
    assert js_calls(html, "animate")[0][0]["loop"] == "forward"


def test_a_grid_puts_each_structure_in_its_own_viewer_with_its_cell():
    pytest.importorskip("py3Dmol")
    phases = [bulk("Si", "diamond", a=5.43, cubic=True), bulk("Si", "fcc", a=3.9, cubic=True)]
    html = minnp.plot.view(phases, titles=["diamond", "fcc"], grid=True).html()
    models = js_calls(html, "addModel")
    assert [len(xyz_frames(text)[0][0]) for text, _ in models] == [8, 4]
    assert 'Lattice=\\"5.430000 0.000000 0.000000' in html and html.count(".addUnitCell(") == 2
    assert [args[0] for args in js_calls(html, "addLabel")] == ["diamond", "fcc"]
    assert "viewergrid" in html and not js_calls(html, "animate")


def test_without_py3dmol_the_view_is_a_matplotlib_figure_with_the_same_colours(no_py3dmol):
    figure = minnp.plot.view(CHAIN, charges=CHARGES)
    assert isinstance(figure, Figure)
    structure, colour_bar = figure.axes                      # one 3-D panel and the colour bar
    assert structure.name == "3d" and colour_bar.get_ylabel() == "charge (e)"
    np.testing.assert_allclose(colour_bar.get_ylim(), [-0.30, 0.30])
    [balls] = [c for c in structure.collections if isinstance(c, Path3DCollection)]
    figure.savefig(io.BytesIO(), format="png")                # drawn: the balls are sorted by depth
    assert sorted(map(mpl.colors.to_hex, balls.get_facecolor())) == sorted(expected_hex(CHARGES, 0.30))
    [sticks] = [c for c in structure.collections if isinstance(c, Line3DCollection)]   # no cell: bonds only
    assert len(sticks.get_segments()) == len(CHAIN) - 1      # a chain: a bond between neighbours only


def test_without_py3dmol_a_trajectory_shows_its_first_and_last_frame(no_py3dmol):
    frames = [CHAIN.copy() for _ in range(5)]
    figure = minnp.plot.view(frames)
    titles = [ax.get_title() for ax in figure.axes if ax.name == "3d"]
    assert titles == ["frame 1 of 5", "frame 5 of 5"]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["H", "C"]   # element legend without charges


def test_asking_for_py3dmol_without_it_says_how_to_install_it(no_py3dmol):
    with pytest.raises(ImportError, match="pip install py3Dmol"):
        minnp.plot.view(CHAIN, backend="py3Dmol")


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected \(6,\)"):
        minnp.plot.view(CHAIN, charges=[0.1, 0.2], backend="matplotlib")
    with pytest.raises(ValueError, match="nothing to show"):
        minnp.plot.view([], backend="matplotlib")
    with pytest.raises(TypeError, match="not an ase.Atoms"):
        minnp.plot.view([CHAIN, "H2O"], backend="matplotlib")
    with pytest.raises(ValueError, match="one title per structure"):
        minnp.plot.view([CHAIN, CHAIN], titles=["a"], backend="matplotlib")
    with pytest.raises(ValueError, match="backend"):
        minnp.plot.view(CHAIN, backend="vmd")


def test_bonds_follow_covalent_radii_and_skip_periodic_images():
    water = molecule("H2O")
    assert sorted(map(tuple, minnp.plot._bonds(water).tolist())) == [(0, 1), (0, 2)]   # O-H twice, no H-H
    diamond = bulk("Si", "diamond", a=5.43, cubic=True)
    i, j, shift = neighbor_list("ijS", diamond, 2.5)                    # ASE: the 16 bonds of the cell, images included
    inside = sorted((a, b) for a, b, s in zip(i, j, shift) if a < b and not s.any())
    assert len(i) // 2 == 16 and sorted(map(tuple, minnp.plot._bonds(diamond).tolist())) == inside
