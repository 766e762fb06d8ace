"""RuNNer/n2p2 ``input.data``: labelled structures in Bohr and Hartree, read and written (notebooks 07, 10).

One block per structure::

    begin
    comment <free text>
    lattice ax ay az              (three lines, Bohr; absent for a cluster)
    atom x y z element q e fx fy fz   (Bohr, e, Ha [unused, written 0], Ha/Bohr)
    energy E                      (Ha)
    charge Q                      (e)
    end

Units are converted here, once, at the border (``ase.units``):

    x[Å] = x[Bohr] · Bohr      E[eV] = E[Ha] · Hartree      F[eV/Å] = F[Ha/Bohr] · Hartree / Bohr

A structure without forces or atomic charges is written with ``nan`` in those columns on every
atom and read back without them. Every malformed line, NaN or infinite label, and second
``energy`` or ``charge`` line of a block is an error naming the file and the line. Use it through
:func:`minnp.data.read` and :func:`minnp.data.write` (files named ``*.data``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.units import Bohr, Hartree

__all__ = ["read_blocks", "text"]


def _runner_number(token: str, what: str, where: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"{where}: {what} {token!r} is not a number") from None
    if math.isinf(value) or (math.isnan(value) and what not in ("charge column", "force")):
        raise ValueError(f"{where}: {what} is {token!r}, not a finite number: fix the value (or "
                         "drop the structure)")
    return value


def read_blocks(text: str, filename: str) -> list[dict]:
    """input.data -> one dict per structure in Å/eV/e (Bohr and Hartree converted here, once)."""
    structures = []
    block = None  # the open structure: its first line and what has been read so far
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{filename}, line {number}"
        tokens = line.split()
        if not tokens:
            continue
        key = tokens[0].lower()
        if key == "begin":
            if block is not None:
                raise ValueError(
                    f"{where}: 'begin' inside the structure begun on line {block['line']}; "
                    "that structure needs an 'end' line first"
                )
            block = {"line": number, "lattice": [], "symbols": [], "rows": [], "energy": None,
                     "charge": None, "comment": None, "atom lines": []}
            continue
        if block is None:
            raise ValueError(f"{where}: {tokens[0]!r} outside a structure; every structure starts with 'begin'")
        if key == "comment":
            block["comment"] = line.strip()[len("comment"):].strip()
        elif key == "lattice":
            if len(tokens) != 4:
                raise ValueError(f"{where}: expected 'lattice ax ay az' (3 numbers), got {len(tokens) - 1}")
            if len(block["lattice"]) == 3:
                raise ValueError(f"{where}: a fourth 'lattice' line; a cell has three lattice vectors")
            block["lattice"].append([_runner_number(t, "lattice component", where) for t in tokens[1:]])
        elif key == "atom":
            if len(tokens) != 10:
                raise ValueError(
                    f"{where}: expected 'atom x y z element charge energy fx fy fz' (9 fields), "
                    f"got {len(tokens) - 1}"
                )
            element = tokens[4]
            if atomic_numbers.get(element, 0) == 0:
                raise ValueError(f"{where}: unknown element {element!r} (symbols are case-sensitive, e.g. 'Si')")
            block["symbols"].append(element)
            block["atom lines"].append(number)
            block["rows"].append([_runner_number(t, "position", where) for t in tokens[1:4]]
                                 + [_runner_number(tokens[5], "charge column", where),
                                    _runner_number(tokens[6], "atomic energy column", where)]
                                 + [_runner_number(t, "force", where) for t in tokens[7:10]])
        elif key in ("energy", "charge"):
            if len(tokens) != 2:
                raise ValueError(f"{where}: expected '{key} {key[0].upper()}', got {line.strip()!r}")
            if block[key] is not None:
                raise ValueError(f"{where}: a second '{key}' line in the structure begun on line {block['line']}; "
                                 f"a structure has one {key}: delete one of the two")
            block[key] = _runner_number(tokens[1], key, where)
        elif key == "end":
            structures.append(_block_labels(block, f"{filename}, line {number}"))
            block = None
        else:
            raise ValueError(
                f"{where}: unknown keyword {tokens[0]!r}; input.data lines start with "
                "begin, comment, lattice, atom, energy, charge or end"
            )
    if block is not None:
        raise ValueError(f"{filename}: the structure begun on line {block['line']} has no 'end' line")
    return structures


def _present(column: np.ndarray, what: str, block: dict, where: str) -> bool:
    """A column that is NaN on every atom was written for a structure without that label: absent."""
    missing = np.isnan(column).reshape(len(column), -1).any(axis=1)  # (N,)
    if missing.all():
        return False
    if missing.any():
        line = block["atom lines"][int(np.argmax(missing))]
        raise ValueError(f"{where}: the {what} of the atom on line {line} is NaN while other atoms have one; "
                         "give every atom a finite value, or NaN on every atom for 'no label'")
    return True


def _block_labels(block: dict, where: str) -> dict:
    """One structure of input.data in Å, eV and e: what :func:`minnp.data.read` turns into Atoms."""
    if not block["symbols"]:
        raise ValueError(f"{where}: the structure begun on line {block['line']} has no atoms")
    if len(block["lattice"]) not in (0, 3):
        raise ValueError(
            f"{where}: the structure begun on line {block['line']} has {len(block['lattice'])} "
            "'lattice' lines; give three (periodic) or none (a cluster)"
        )
    rows = np.array(block["rows"])  # (N, 8): x y z q e fx fy fz
    periodic = len(block["lattice"]) == 3
    return {
        "symbols": block["symbols"],
        "positions": rows[:, 0:3] * Bohr,
        "cell": np.array(block["lattice"]) * Bohr if periodic else None,
        "energy": block["energy"] * Hartree if block["energy"] is not None else None,
        "forces": rows[:, 5:8] * Hartree / Bohr if _present(rows[:, 5:8], "force", block, where) else None,
        "charges": rows[:, 3] if _present(rows[:, 3], "charge", block, where) else None,
        "charge": block["charge"],
        "comment": block["comment"],
    }


def text(structures: Sequence[Atoms]) -> str:
    """Atoms in Å/eV -> RuNNer/n2p2 input.data in Bohr/Hartree (17 significant digits).

    Forces or atomic charges a structure does not have are written as NaN on every atom (the
    format has a column for them), and read back as absent, never as zero labels.
    """
    num = "{: .16e}".format
    lines = []
    for s, atoms in enumerate(structures):
        if atoms.pbc.any() and not atoms.pbc.all():
            raise ValueError(
                f"structure {s} is periodic along some directions only (pbc={atoms.pbc.tolist()}); "
                "input.data knows clusters and fully periodic cells: set atoms.pbc to all True or all False"
            )
        results = atoms.calc.results if atoms.calc is not None else {}
        if "energy" not in results:
            raise ValueError(
                f"structure {s} has no energy; input.data needs one per structure "
                "(attach it with minnp.data.label(atoms, energy=...))"
            )
        forces = np.asarray(results["forces"]) / (Hartree / Bohr) if "forces" in results else \
            np.full((len(atoms), 3), np.nan)
        charges = atoms.arrays.get("charges", np.full(len(atoms), np.nan))
        lines.append("begin")
        if "comment" in atoms.info:
            lines.append(f"comment {' '.join(str(atoms.info['comment']).split())}")
        if atoms.pbc.all():
            lines.extend("lattice " + " ".join(num(v) for v in vector) for vector in atoms.cell.array / Bohr)
        positions = atoms.positions / Bohr
        for symbol, x, q, force in zip(atoms.get_chemical_symbols(), positions, charges, forces):
            lines.append(f"atom {num(x[0])} {num(x[1])} {num(x[2])} {symbol:2s} {num(q)} {num(0.0)} "
                         f"{num(force[0])} {num(force[1])} {num(force[2])}")
        lines.append(f"energy {num(results['energy'] / Hartree)}")
        lines.append(f"charge {num(float(atoms.info.get('charge', 0.0)))}")
        lines.append("end")
    return "".join(line + "\n" for line in lines)
