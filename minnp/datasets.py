"""The course's own data sets: what they are, where they live, and how to load them, checked.

Step 1 of every machine-learned potential is "collect reference data". The course makes its own
so that every number can be regenerated offline, on a laptop, by anyone:

============================  ===============================================================
name                          what
============================  ===============================================================
``si_tersoff``                Si labelled with Tersoff's Si(C) potential (energies, forces,
                              stress): strained diamond, MD from 300 K to the liquid,
                              vacancies, (100) and (111) surfaces, beta-Sn, sc, bcc, fcc.
                              Notebooks 06 and 07 train on it.
``carbon_chain_xtb``          C10H2 and C10H3+ (Ko et al.'s carbon chain: protonating one end
                              changes the charges at the far end), GFN2-xTB.
``ag3_xtb``                   Ag3+ and Ag3-, the *same* geometries with both total charges:
                              a model without charges cannot tell them apart. GFN2-xTB.
``nacl_xtb``                  Na9Cl8+ and Na8Cl8 (one neutral Na atom removed), GFN2-xTB.
``mlearn_si``                 Si with PBE labels from the mlearn benchmark (Zuo et al., J. Phys.
                              Chem. A 124, 731 (2020), BSD-3), converted once (notebook 11).
============================  ===============================================================

Each set is one file, ``data/NAME/NAME.extxyz.gz``, labelled as :mod:`minnp.data` describes,
with its card, overview figure and generation record beside it. :func:`load` reads a set and
first checks the file against its SHA-256 in ``data/SHA256SUMS`` (a file changed since it was
made is refused, not trained on); the hash is computed once per file version (size and
modification time) and remembered. :func:`verify` checks every stored file.

The sets are *made* by repository tooling, not by this module: ``python -m tools.make_datasets
make NAME`` in a clone (see ``tools/make_datasets.py``; ``mlearn_si`` by ``tools/convert_mlearn.py``). What a notebook needs from the making
lives here: the teacher of the Si set (:func:`si_teacher`, notebook 07 compares with it), its
crystal phases (:func:`si_phases`) and the carbon chain (:func:`carbon_chain`, notebook 09).

    >>> from minnp import datasets
    >>> structures = datasets.load("ag3_xtb")       # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from minnp import data

__all__ = ["SETS", "data_dir", "load", "verify", "read_checksums", "set_path", "si_teacher", "si_phases",
           "carbon_chain"]

SETS = {
    "si_tersoff": "Si labelled with Tersoff's Si(C): strained crystals, MD 300-3000 K, vacancy, surfaces",
    "carbon_chain_xtb": "C10H2 and C10H3+ (GFN2-xTB): charge transfer along a carbon chain",
    "ag3_xtb": "Ag3+ and Ag3- (GFN2-xTB): the same geometries with both total charges",
    "nacl_xtb": "Na9Cl8+ and Na8Cl8 (GFN2-xTB): a charged and a neutral NaCl cluster",
    "mlearn_si": "Si, PBE DFT from the mlearn benchmark (Zuo et al. 2020, BSD-3), converted once",
    "md_molecules_xtb": "ethanol and malonaldehyde at 500 K (GFN2-xTB): train and test from independent "
                        "MD trajectories",
}
MAKE = "python -m tools.make_datasets make"  # run in a clone of the repository
# how each set is (re)made; a set converted from third-party data has its own tool
MADE_BY = {name: f"{MAKE} {name}" for name in SETS} | {
    "mlearn_si": "python -m tools.convert_mlearn",
    "md_molecules_xtb": "OMP_NUM_THREADS=1 python -m tools.make_md_molecules"}


# ----------------------------------------------------------------------------------------------
# where the data lives, and whether it is what was made


def data_dir() -> Path:
    """The data folder: ``$MINNP_DATA`` if set, else ``data/`` beside the ``minnp`` package."""
    if os.environ.get("MINNP_DATA"):
        path = Path(os.environ["MINNP_DATA"]).expanduser()
        where = f"$MINNP_DATA ({path})"
    else:
        path = Path(__file__).resolve().parents[1] / "data"
        where = f"the data/ folder beside the minnp package ({path})"
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{where} is a file, not a folder: point MINNP_DATA at the data/ folder of a clone")
    if not path.is_dir():
        raise FileNotFoundError(
            f"no course data at {where}. minnp is probably installed without its repository "
            "(e.g. `pip install` on Colab): point MINNP_DATA at the data/ folder of a clone, "
            "e.g. os.environ['MINNP_DATA'] = '/content/minnp/data', or install with `pip install -e .`"
        )
    return path


def _check_name(name: str) -> None:
    if name not in SETS:
        raise ValueError(f"unknown data set {name!r}; the course's sets are {sorted(SETS)}")


def set_path(name: str, root: Path | None = None) -> Path:
    """The labelled-structure file of data set ``name``."""
    _check_name(name)
    return Path(root or data_dir()) / name / f"{name}.extxyz.gz"


def read_checksums(root: Path | None = None) -> dict[str, str]:
    """``data/SHA256SUMS`` (``sha256sum`` format): relative path -> SHA-256 of the stored file.

    A missing SHA256SUMS is an error: without it nothing can be checked.
    """
    path = Path(root or data_dir()) / "SHA256SUMS"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing, so no data file can be checked: restore it (git checkout data/SHA256SUMS) "
            f"or regenerate the sets with `{MAKE} NAME`, which writes it"
        )
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            digest, _, name = line.strip().partition(" ")
            name = name.strip()
            if len(digest) != 64 or not name:
                raise ValueError(f"{path}, line {number}: expected '<sha256>  <path>', got {line!r}; "
                                 "restore the file (git checkout data/SHA256SUMS)")
            sums[name.lstrip("*")] = digest
    return sums


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of one version of a file (the size and time stamp key the cache)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    """SHA-256 of ``path``, computed again only when its size or modification time changed."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def _mismatch(root: Path, name: str, sums: dict[str, str]) -> str | None:
    """Why ``root/name`` does not match SHA256SUMS, or None when it does."""
    if name not in sums:
        return "it has no line in SHA256SUMS"
    if not (root / name).is_file():
        return "it is missing"
    if sha256(root / name) != sums[name]:
        return "its SHA-256 differs from SHA256SUMS (the file changed since it was made)"
    return None


def verify(root: Path | None = None) -> list[str]:
    """Stored data files that do not match ``data/SHA256SUMS`` (empty if all match).

    Every file listed there and every set file present is checked; a missing SHA256SUMS raises.
    """
    root = Path(root or data_dir())
    sums = read_checksums(root)
    present = {f"{name}/{name}.extxyz.gz" for name in SETS if set_path(name, root).exists()}
    return sorted(name for name in set(sums) | present if _mismatch(root, name, sums))


def load(name: str) -> list[Atoms]:
    """The structures of a course data set, checked against SHA256SUMS, labelled as :mod:`minnp.data` says.

    >>> structures = load("si_tersoff")                  # doctest: +SKIP
    >>> structures[0].get_potential_energy(), structures[0].info["group"]   # doctest: +SKIP
    """
    path = set_path(name)
    if not path.exists():
        raise FileNotFoundError(f"data set {name!r} is not in {path.parent}: make it with `{MADE_BY[name]}`")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, but data set {name!r} is one file: remove the folder "
                                f"and restore the file (git checkout data/{name}) or make it with `{MADE_BY[name]}`")
    root = path.parents[1]
    problem = _mismatch(root, f"{name}/{path.name}", read_checksums(root))
    if problem:
        raise ValueError(
            f"{path} does not match its checksum in {root / 'SHA256SUMS'}: {problem}. Restore it (git checkout data/{name}) or "
            f"regenerate it with `{MADE_BY[name]}` and update SHA256SUMS"
        )
    return data.read(path)


# ----------------------------------------------------------------------------------------------
# what the sets were made from, for the notebooks that compare with it


def si_teacher():
    """The teacher of the Si set: minnp's Tersoff Si(C) (PRB 38, 9902 (1988)) as an ASE calculator, on CPU."""
    from minnp.calculator import Calculator
    from minnp.potentials.tersoff import Tersoff

    return Calculator(Tersoff.from_name("Si(C)"), device="cpu")


SI_A = 5.432  # Å, diamond lattice constant of Tersoff's Si(C) (E = -4.6297 eV/atom)


def beta_tin(a: float = 4.92, c_over_a: float = 0.52) -> Atoms:
    """beta-Sn structure (I4_1/amd), conventional 4-atom tetragonal cell."""
    fractional = [[0, 0, 0], [0, 0.5, 0.25], [0.5, 0.5, 0.5], [0.5, 0, 0.75]]
    return Atoms("Si4", scaled_positions=fractional, cell=[a, a, a * c_over_a], pbc=True)


def si_phases() -> dict[str, Atoms]:
    """The crystal phases of the Si set, 8-32 atoms each, at Tersoff Si(C)'s equilibrium lattice
    constants (found by scanning a and c/a) except fcc: its minimum (a = 3.90 Å) puts the 12
    nearest neighbours at 2.76 Å, inside the cutoff region (2.70-3.00 Å) where f_C bends the
    energy sharply, so fcc is sampled around a = 3.80 Å."""
    return {
        "diamond": bulk("Si", "diamond", a=SI_A, cubic=True),  # 8 atoms
        "beta-Sn": beta_tin() * (2, 2, 2),  # 32
        "sc": bulk("Si", "sc", a=2.54) * (2, 2, 2),  # 8
        "bcc": bulk("Si", "bcc", a=3.08, cubic=True) * (2, 2, 2),  # 16
        "fcc": bulk("Si", "fcc", a=3.80, cubic=True) * (2, 2, 2),  # 32
    }


def carbon_chain(protonated: bool = False) -> Atoms:
    """Linear C10H2 (polyyne, H-C≡C-...-C≡C-H) along z; ``protonated`` adds H+ at one end: C10H3+."""
    z, positions = 0.0, []
    for k in range(10):
        positions.append([0.0, 0.0, z])
        z += 1.21 if k % 2 == 0 else 1.36  # alternating triple and single bonds
    carbons = np.array(positions)
    end = carbons[-1] + [0.0, 0.0, 1.06]
    if not protonated:
        hydrogens = [carbons[0] - [0.0, 0.0, 1.06], end]
    else:  # =CH2+ at the first carbon, H-C-H 120°
        hydrogens = [carbons[0] + [0.94, 0.0, -0.545], carbons[0] + [-0.94, 0.0, -0.545], end]
    return Atoms("C10H" + str(len(hydrogens)), positions=np.vstack([carbons, hydrogens]))
