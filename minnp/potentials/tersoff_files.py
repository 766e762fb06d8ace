"""Write a :class:`minnp.potentials.Tersoff` as a LAMMPS ``.tersoff`` file (notebook 15).

Notebook 02 reads these files (:meth:`Tersoff.from_lammps`); notebook 15 writes them back so
that any Tersoff in the course, the published sets and the ones refitted to DFT (notebook 12)
alike, runs in LAMMPS' ``pair_style tersoff``. One entry per element triple i-j-k, 17 tokens:

    e1 e2 e3  m gamma lambda3 c d costheta0 n beta lambda2 B R D lambda1 A

the 14 numbers in the order of :data:`minnp.potentials.tersoff.FIELDS` (LAMMPS' own order),
taken from the module's ``table`` (n_el, n_el, n_el, 14). Each number is written as Python's
``repr`` of the float64, the shortest string that reads back to the same bits, so
:func:`minnp.potentials.tersoff.read_lammps_entries` (and LAMMPS' ``strtod``) get every
parameter back bit for bit.
"""

from __future__ import annotations

import itertools

from minnp.potentials.eam_files import write_text_atomically
from minnp.potentials.tersoff import FIELDS, Tersoff

HEADER = "# e1 e2 e3 " + " ".join(FIELDS)


def tersoff_file_text(model: Tersoff, comment: str = "written by minnp") -> str:
    """The text of a ``.tersoff`` file holding every entry of ``model.table``."""
    table = model.table.detach().to("cpu").double()  # (n_el, n_el, n_el, 14)
    if table.shape[:3] != (len(model.species),) * 3 or table.shape[3] != len(FIELDS):
        raise ValueError(f"Tersoff table has shape {tuple(table.shape)}; expected "
                         f"({len(model.species)},) * 3 + ({len(FIELDS)},) for species {model.species}")
    lines = [f"# {line}" for line in comment.splitlines()] + [HEADER]
    n_el = len(model.species)
    for a, b, c in itertools.product(range(n_el), repeat=3):
        names = " ".join(model.species[k] for k in (a, b, c))
        lines.append(f"{names} " + " ".join(repr(float(v)) for v in table[a, b, c].tolist()))
    return "\n".join(lines) + "\n"


def write_tersoff(model: Tersoff, path, comment: str = "written by minnp") -> None:
    """Write ``model`` as a LAMMPS ``.tersoff`` file (``pair_coeff * * path Si C``)."""
    write_text_atomically(path, tersoff_file_text(model, comment))
