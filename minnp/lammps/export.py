"""Export any potential of the course to LAMMPS: one call, the files and the pair style (notebook 15).

    EAM (tables, notebook 01)          -> setfl ``.eam.alloy`` (pair_style eam/alloy) or
                                          Finnis-Sinclair ``.eam.fs`` (eam/fs): minnp.potentials.eam_files;
                                          with ``pair_style="eam"`` a one-element EAM as DYNAMO
                                          funcfl ``.eam`` (r·φ = 27.2·0.529·Z², so r·φ ≥ 0)
    ZhouEAM (analytic, notebook 01)    -> tabulated first (ZhouEAM.tabulate), then as EAM
    Tersoff (notebooks 02, 12)         -> ``.tersoff`` (pair_style tersoff): minnp.potentials.tersoff_files;
                                          a FittableTersoff through its current parameters (``.tersoff()``),
                                          without its per-element energy shift e_Z, which a LAMMPS
                                          Tersoff file cannot hold: LAMMPS' energies are lower by
                                          Σ_i e_{Z_i}, its forces and stress the same
    HDNNP on a SNAPDescriptor          -> ML-IAP ``model nn`` + ``descriptor sna`` files: minnp.lammps.mliap

Each writer keeps every float64 bit (17 significant digits or ``repr``), so minnp's readers
read the same numbers back and LAMMPS computes the potential minnp computes.
"""

from __future__ import annotations

import pathlib

import torch

from minnp.lammps.mliap import SNAPDescriptor, write_mliap
from minnp.lammps.run import LammpsPotential
from minnp.potentials.eam import EAM
from minnp.potentials.eam_files import write_funcfl
from minnp.potentials.tersoff import Tersoff
from minnp.potentials.tersoff_files import write_tersoff
from minnp.potentials.zhou_eam import ZhouEAM


def export(model: torch.nn.Module, folder, name: str | None = None, pair_style: str | None = None
           ) -> LammpsPotential:
    """Write ``model``'s LAMMPS file(s) into ``folder``; the :class:`LammpsPotential` that runs them.

    ``pair_style`` chooses among the styles that can run ``model``; only an EAM has a choice:
    "eam/alloy" (setfl, the default), "eam/fs" (the default for Finnis–Sinclair tables) or "eam"
    (funcfl, one element).
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(model, ZhouEAM):
        model = model.tabulate()
    choices = ["eam", "eam/alloy", "eam/fs"] if isinstance(model, EAM) else [None]
    if pair_style not in choices + [None]:
        raise ValueError(f"pair_style {pair_style!r} cannot run a {type(model).__name__} here: "
                         + (f"choose one of {choices}" if isinstance(model, EAM) else
                            "only an EAM has a choice of pair style; leave pair_style=None"))
    if isinstance(model, EAM):
        name = name or "-".join(model.species)
        if pair_style == "eam":
            path = folder / f"{name}.eam"
            write_funcfl(model, path)
            return LammpsPotential("eam", [f"* * {path}"], list(model.species), [path])
        if pair_style == "eam/fs" or (model.finnis_sinclair and pair_style is None):
            path = folder / f"{name}.eam.fs"
            model.write_fs(path)
            style = "eam/fs"
        else:
            path = folder / f"{name}.eam.alloy"
            model.write_setfl(path)
            style = "eam/alloy"
        return LammpsPotential(style, [f"* * {path} {' '.join(model.species)}"], list(model.species), [path])
    if isinstance(model, Tersoff):
        if callable(getattr(model, "tersoff", None)):  # FittableTersoff: the table of its current parameters
            model = model.tersoff()
        path = folder / f"{name or ''.join(model.species)}.tersoff"
        write_tersoff(model, path)
        return LammpsPotential("tersoff", [f"* * {path} {' '.join(model.species)}"], list(model.species),
                               [path])
    if isinstance(getattr(model, "descriptor", None), SNAPDescriptor):
        return write_mliap(model, folder, name or "minnp")
    raise TypeError(f"no LAMMPS export for {type(model).__name__}: LAMMPS runs EAM, ZhouEAM (tabulated), "
                    "Tersoff and networks on a SNAPDescriptor (pair_style mliap); others need a LAMMPS "
                    "plugin")
