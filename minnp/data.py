"""Labelled structures in and out: extended XYZ, RuNNer/n2p2 ``input.data``, splits.

Notebooks 06, 07 and 10 read their data through this module; :mod:`minnp.datasets` makes the
course's own sets with it.

How labels live on an ASE ``Atoms`` (the contract every minnp model, trainer and notebook reads)
---------------------------------------------------------------------------------------------
==========================  ===============================================  ======
label                       where                                            unit
==========================  ===============================================  ======
energy of the structure     ``atoms.get_potential_energy()``                 eV
forces, (N, 3)              ``atoms.get_forces()``                           eV/Å
stress, Voigt (6,)          ``atoms.get_stress()`` (ASE's sign)              eV/Å³
atomic reference charges    ``atoms.arrays["charges"]``, (N,)                e
total charge                ``atoms.info["charge"]`` (absent means 0)        e
group, for honest splits    ``atoms.info["group"]`` (a trajectory, a         --
                            temperature, a phase or a charge state)
==========================  ===============================================  ======

Generated sets add ``atoms.info["temperature"]`` (K, for MD frames) and, for Si,
``atoms.info["phase"]``; :func:`group_split` can hold out by any of these keys.

Energy, forces and stress sit on a ``SinglePointCalculator`` (:func:`label` puts them there),
so ASE's own tools read them unchanged. Atomic charges are *not* on the calculator: they are
reference data, kept in ``atoms.arrays["charges"]`` (ASE's extxyz reader puts a ``charges``
column on the calculator; :func:`read` moves it back). :class:`minnp.Batch` reads the total
charge from ``atoms.info["charge"]``.

Units are eV, Å and e everywhere inside minnp. Formats, chosen from the file name (``.gz`` is
compressed and decompressed on the fly):

- ``*.xyz``, ``*.extxyz``: extended XYZ through ASE; every label above, plus any other
  ``info`` key, round-trips (per-atom columns are written with 8 decimals).
- ``input.data``, ``*.data``: RuNNer/n2p2 blocks in Bohr and Hartree, converted at the border
  by :mod:`minnp.runner_data`. The format holds lattice, positions, elements, atomic charges, forces,
  energy, total charge and the comment (``info["comment"]``); not stress, groups or other info.
  Forces or atomic charges a structure lacks are written as ``nan`` and read back as absent.

Reading checks what it reads: a NaN or infinite label, a malformed or truncated structure, a
byte that is not UTF-8 (outside an input.data ``comment``) or a cut-off ``.gz`` file is an error
naming the file, the structure and the line. Writing checks every structure first, then replaces
the file atomically (:func:`atomic_path`), so a failed write never leaves half a file.

The lecture's precomputed descriptors (``desc.npy`` (structures, atoms, features) and
``label.npy`` (structures,) energy per atom in eV) are read by :func:`read_descriptors`.

Splits take a seed and return lists of the same ``Atoms`` objects: :func:`random_split`, and
:func:`group_split`, which holds whole groups out (a trajectory, a temperature, a charge state)
so the test error measures extrapolation rather than interpolation between correlated frames.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import secrets
import zlib
from pathlib import Path
from typing import Hashable, Iterator, Sequence

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from minnp import runner_data

__all__ = ["label", "read", "write", "read_descriptors", "random_split", "group_split", "atomic_path"]


def label(
    atoms: Atoms,
    energy: float | None = None,
    forces: np.ndarray | None = None,
    stress: np.ndarray | None = None,
    charges: np.ndarray | None = None,
    charge: float | None = None,
) -> Atoms:
    """Attach reference labels to ``atoms`` the minnp way (see the module docstring); returns it.

    Energy (eV), forces (N, 3) (eV/Å) and stress ((6,) Voigt or (3, 3), eV/Å³) go on a
    ``SinglePointCalculator``; atomic charges (N,) to ``atoms.arrays["charges"]``; the total
    charge to ``atoms.info["charge"]``.
    """
    results = {}
    if energy is not None:
        results["energy"] = float(energy)
    if forces is not None:
        forces = np.asarray(forces, dtype=float)
        if forces.shape != (len(atoms), 3):
            raise ValueError(f"forces have shape {forces.shape}, expected ({len(atoms)}, 3) for this structure")
        results["forces"] = forces
    if stress is not None:
        stress = np.asarray(stress, dtype=float)
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]  # Voigt: xx yy zz yz xz xy
        if stress.shape != (6,):
            raise ValueError(f"stress has shape {stress.shape}, expected (6,) Voigt or (3, 3)")
        results["stress"] = stress
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    if charges is not None:
        charges = np.asarray(charges, dtype=float)
        if charges.shape != (len(atoms),):
            raise ValueError(f"charges have shape {charges.shape}, expected ({len(atoms)},) for this structure")
        atoms.arrays["charges"] = charges.copy()
    if charge is not None:
        atoms.info["charge"] = float(charge)
    return atoms


# ----------------------------------------------------------------------------------------------
# reading and writing


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces ``path`` only if the block succeeds.

    Write the new content to the yielded path; on success it is flushed to disk and renamed over
    ``path`` in one step (``os.replace``), so a reader sees the old file or the new one, never
    half of one. On any error (or Ctrl-C) the temporary file is removed and ``path`` is untouched::

        with atomic_path("train.data") as tmp:
            tmp.write_text(text)
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give the path of a file to write inside it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: the folder {str(path.parent)!r} does not exist; "
                                "create it first (e.g. Path(...).mkdir(parents=True))")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # same folder: same file system
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)




def _format(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in ("extxyz", "runner"):
            raise ValueError(f"unknown format {format!r}; use 'extxyz' or 'runner' (RuNNer/n2p2 input.data)")
        return format
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if name.endswith(".data"):
        return "runner"
    raise ValueError(
        f"cannot tell the format of {str(path)!r} from its name: use a name ending in .xyz or .extxyz "
        "(extended XYZ) or .data (RuNNer/n2p2 input.data), optionally with .gz, or pass "
        "format='extxyz' or format='runner'"
    )


def _read_text(path: Path) -> str:
    """The whole text of ``path`` (gunzipped when the name ends in .gz), with file and line in every error."""
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, not a file: give the path of the file inside it")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:  # truncated or not gzip at all
            raise ValueError(f"{str(path)!r} is not a complete gzip file ({error}): the download or copy was "
                             "cut short or damaged; fetch or regenerate the file") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        bad = [(number, line) for number, line in enumerate(raw.split(b"\n"), start=1) if not _is_utf8(line)]
        named = [(number, line) for number, line in bad if not line.lstrip().lower().startswith(b"comment")]
        if not named:  # only in free-text comments: keep them, with U+FFFD for each bad byte
            return raw.decode("utf-8", errors="replace")
        number, line = named[0]
        byte = line[_first_bad_byte(line)]
        raise ValueError(f"{str(path)!r}, line {number}: byte 0x{byte:02x} is not UTF-8 text; re-save the "
                         "file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def _first_bad_byte(line: bytes) -> int:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return -1


def _is_utf8(line: bytes) -> bool:
    return _first_bad_byte(line) < 0


def _write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically by ``text`` (gzipped reproducibly, without time stamp, for .gz)."""
    raw = text.encode("utf-8")
    if path.name.endswith(".gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", fileobj=buffer, mode="wb", mtime=0) as gz:
            gz.write(raw)
        raw = buffer.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(raw)


def read(path: str | os.PathLike, format: str | None = None) -> list[Atoms]:
    """All labelled structures in a file, as ASE ``Atoms`` following the module's label contract.

    The format comes from the name (see the module docstring) unless ``format`` is given. A
    malformed structure, a label that is NaN or infinite, a byte that is not UTF-8 or a truncated
    .gz file is an error naming the file, the structure and its line.
    """
    path = Path(path)
    fmt = _format(path, format)
    text = _read_text(path)
    if fmt == "runner":
        return [_runner_atoms(block) for block in runner_data.read_blocks(text, str(path))]
    return _read_extxyz(text, str(path))


def write(path: str | os.PathLike, structures: Atoms | Sequence[Atoms], format: str | None = None) -> None:
    """Write labelled structures; the format comes from the name unless ``format`` is given.

    Everything is checked and formatted first; the file is then replaced atomically, so a
    structure the format cannot hold leaves an existing file as it was.
    """
    path = Path(path)
    fmt = _format(path, format)
    structures = [structures] if isinstance(structures, Atoms) else list(structures)
    for s, atoms in enumerate(structures):
        _check_finite_labels(atoms, f"structure {s}")
    if fmt == "runner":
        text = runner_data.text(structures)
    else:
        buffer = io.StringIO()
        ase.io.write(buffer, structures, format="extxyz")
        text = buffer.getvalue()
    _write_text(path, text)


def _check_finite_labels(atoms: Atoms, where: str) -> None:
    """A NaN or infinite label is an error: it would turn a training loss into NaN."""
    results = atoms.calc.results if atoms.calc is not None else {}
    labels = {key: results[key] for key in ("energy", "forces", "stress") if key in results}
    labels.update({key: value for key, value in (("charges", atoms.arrays.get("charges")),
                                                 ("total charge", atoms.info.get("charge"))) if value is not None})
    for key, value in labels.items():
        if not np.isfinite(np.asarray(value, dtype=float)).all():
            raise ValueError(f"{where} has a non-finite {key} label (NaN or inf): fix the value in the source, "
                             "or drop that structure")


def _runner_atoms(block: dict) -> Atoms:
    """One structure of :func:`minnp.runner_data.read_blocks` as Atoms labelled the minnp way."""
    periodic = block["cell"] is not None
    atoms = Atoms(symbols=block["symbols"], positions=block["positions"], cell=block["cell"], pbc=periodic)
    label(atoms, energy=block["energy"], forces=block["forces"], charges=block["charges"], charge=block["charge"])
    if block["comment"] is not None:
        atoms.info["comment"] = block["comment"]
    return atoms


def _read_extxyz(text: str, filename: str) -> list[Atoms]:
    """Extended XYZ through ASE, frame by frame, so that an error names the frame and its line."""
    lines = text.splitlines()
    starts, k = [], 0  # the line (0-based) where each frame begins
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        try:
            n_atoms = int(lines[k])
        except ValueError:
            raise ValueError(f"{filename}, line {k + 1}: structure {len(starts)} should start with its number "
                             f"of atoms, got {lines[k][:40]!r}; is this an extended XYZ file?") from None
        if k + 2 + n_atoms > len(lines):
            raise ValueError(f"{filename}, line {k + 1}: structure {len(starts)} announces {n_atoms} atoms but the "
                             f"file ends after {max(len(lines) - k - 2, 0)}: it is truncated")
        starts.append(k)
        k += 2 + n_atoms
    structures = []
    frames = ase.io.iread(io.StringIO(text), index=":", format="extxyz")
    for s, start in enumerate(starts):
        where = f"{filename}, structure {s} (line {start + 1})"
        try:
            atoms = next(frames)
        except Exception as error:  # ASE's parser: a malformed header or atom line
            raise ValueError(f"{where}: {type(error).__name__}: {error}; fix or drop that structure") from None
        # ASE's reader puts a 'charges' column on the calculator; the contract keeps it in arrays.
        if atoms.calc is not None and "charges" in atoms.calc.results:
            atoms.arrays["charges"] = np.asarray(atoms.calc.results.pop("charges"), dtype=float)
        _check_finite_labels(atoms, where)
        structures.append(atoms)
    return structures


def read_descriptors(desc_path: str | os.PathLike = "desc.npy", label_path: str | os.PathLike = "label.npy"):
    """The lecture's precomputed arrays: descriptors (structures, atoms, features) and energies per atom.

    Returns ``(desc, label)`` as NumPy arrays, ``label`` of shape (structures,) in eV/atom, after
    checking that they belong together.
    """
    desc_path, label_path = Path(desc_path), Path(label_path)
    for p in (desc_path, label_path):
        if not p.exists():
            raise FileNotFoundError(f"no such file: {str(p)!r}")
    x = np.load(desc_path)
    y = np.load(label_path)
    if x.ndim != 3:
        raise ValueError(f"{desc_path}: expected descriptors of shape (structures, atoms, features), got {x.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (x.shape[0],):
        raise ValueError(
            f"{label_path}: expected one energy per atom for each of the {x.shape[0]} structures in "
            f"{desc_path.name}, got shape {y.shape}"
        )
    return x, y


# ----------------------------------------------------------------------------------------------
# splits


def _fraction_counts(n: int, fractions: Sequence[float]) -> list[int]:
    fractions = [float(p) for p in fractions]
    if any(p < 0 for p in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions {fractions} must be non-negative and sum to 1, e.g. (0.8, 0.1, 0.1)")
    edges = np.rint(np.cumsum([0.0] + fractions) * n).astype(int)
    return np.diff(edges).tolist()


def random_split(
    structures: Sequence[Atoms], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[list[Atoms]]:
    """Shuffle with ``seed`` and cut into parts of the given fractions (e.g. train, validation, test).

    >>> from ase import Atoms
    >>> train, val, test = random_split([Atoms("H")] * 10, (0.8, 0.1, 0.1), seed=0)
    >>> len(train), len(val), len(test)
    (8, 1, 1)
    """
    structures = list(structures)
    order = np.random.default_rng(seed).permutation(len(structures))
    parts, start = [], 0
    for count in _fraction_counts(len(structures), fractions):
        parts.append([structures[i] for i in order[start:start + count]])
        start += count
    return parts


def group_split(
    structures: Sequence[Atoms],
    test_groups: Sequence[Hashable],
    key: str = "group",
    val_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[list[Atoms], list[Atoms], list[Atoms]]:
    """Hold whole groups out as the test set: ``(train, val, test)``.

    Structures whose ``atoms.info[key]`` is in ``test_groups`` form the test set; the rest is
    shuffled with ``seed`` and split into train and validation (``val_fraction``). ``key`` may be
    any info key ("group", "temperature", "phase", "charge"); structures without it form the
    group ``None``.
    """
    structures = list(structures)
    if isinstance(test_groups, (str, bytes)) or not np.iterable(test_groups):
        test_groups = [test_groups]
    values = [atoms.info.get(key) for atoms in structures]
    present = set(values)
    if present == {None}:
        raise ValueError(f"no structure has atoms.info[{key!r}]; choose another key, e.g. 'group'")
    missing = [g for g in test_groups if g not in present]
    if missing:
        known = sorted(present, key=str)
        raise ValueError(f"groups {missing} not found under info[{key!r}]; the groups present are {known}")
    held_out = set(test_groups)
    test = [a for a, v in zip(structures, values) if v in held_out]
    rest = [a for a, v in zip(structures, values) if v not in held_out]
    train, val = random_split(rest, (1.0 - val_fraction, val_fraction), seed=seed)
    return train, val, test
