"""One ASE calculator for every energy module in the course; forces and stress by autograd.

Notebook 00 introduces it; notebooks 01-10 run EAM, Tersoff, HDNNP and 4G models through it.

An energy module maps a :class:`~minnp.batch.Batch` to per-atom energies E_i, shape (N,).
Everything else follows from autograd:

    E = Σ_i E_i                          (per structure)
    F_i = -∂E/∂x_i
    σ = (1/V) ∂E/∂ε |_{ε=0}              ASE's sign: positive = the cell wants to shrink

where ε is a symmetric strain applied to positions and cell together, x -> x(1 + ε),
h -> h(1 + ε). Because distances are recomputed in torch from (i, j, S) and the strained
cell, the strain derivative includes the image shifts: that is the whole stress, the
virial of every pair and triple.

:func:`compute` is the tensor-level version (training uses it with ``create_graph=True``
to fit forces); :class:`Calculator` wraps it for ASE's MD, optimisers and EOS tools.
"""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator as _AseCalculator
from ase.calculators.calculator import PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from minnp.batch import Batch, atoms_to_batch, device, sum_per_structure

Tensor = torch.Tensor


def compute(
    model: torch.nn.Module,
    batch: Batch,
    forces: bool = True,
    stress: bool = False,
    create_graph: bool = False,
) -> dict[str, Tensor]:
    """Energies, and by autograd forces and stress, for a batch of structures.

    Returns ``energy`` (B,), ``energies`` (N,), and when asked ``forces`` (N, 3) in eV/Å and
    ``stress`` (B, 3, 3) in eV/Å³, all detached. ``create_graph=True`` keeps the graph of
    energies and forces so a loss on them can be differentiated again (training on forces).
    """
    positions = batch.positions
    cell = batch.cell
    inputs = []
    if forces:
        positions = positions.detach().requires_grad_(True)
        inputs.append(positions)
    if stress:
        strain = torch.zeros_like(cell, requires_grad=True)  # (B, 3, 3)
        inputs.append(strain)
        deform = torch.eye(3, dtype=cell.dtype, device=cell.device) + 0.5 * (strain + strain.transpose(1, 2))
        positions = torch.einsum("na,nab->nb", positions, deform[batch.batch])  # (N, 3)
        cell = cell @ deform  # (B, 3, 3)
    with torch.set_grad_enabled(bool(inputs) or torch.is_grad_enabled()):
        energies = model(batch.replace(positions=positions, cell=cell))  # (N,)
        energy = sum_per_structure(energies, batch)  # (B,)
        out = {"energy": energy, "energies": energies}
        if inputs:
            grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph)
            if forces:
                out["forces"] = -grads[0]
            if stress:
                volume = batch.volume()
                if (volume <= 0).any():
                    raise ValueError("stress needs a cell with non-zero volume in every structure")
                out["stress"] = grads[-1] / volume[:, None, None]
    if not create_graph:  # plain numbers for the caller; training keeps the graph
        out = {k: v.detach() for k, v in out.items()}
    return out


class Calculator(_AseCalculator):
    """ASE calculator for any minnp energy module (EAM, Tersoff, HDNNP, 4G, ...).

    >>> from ase.build import bulk
    >>> from minnp.potentials import LennardJones
    >>> atoms = bulk("Ar", "fcc", a=5.26)
    >>> atoms.calc = Calculator(LennardJones(epsilon=0.0104, sigma=3.40))
    >>> round(atoms.get_potential_energy(), 4)
    -0.0826

    Gives ``energy`` and ``free_energy`` (eV), per-atom ``energies``, ``forces`` (eV/Å)
    and, when the cell has three dimensions, ``stress`` (eV/Å³, Voigt order).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model: torch.nn.Module, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float64, **kwargs):
        super().__init__(**kwargs)
        self.device = torch.device(device) if device is not None else globals()["device"]()
        self.dtype = dtype
        self.model = model.to(device=self.device, dtype=dtype)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        has_volume = self.atoms.cell.rank == 3
        if "stress" in properties and not has_volume:
            raise PropertyNotImplementedError(
                "stress needs a three-dimensional cell; this structure's cell has rank "
                f"{self.atoms.cell.rank} (give it a cell or ask only for energy and forces)"
            )
        batch = atoms_to_batch(self.atoms, device=self.device, dtype=self.dtype)
        out = compute(self.model, batch, forces=True, stress=has_volume)
        energy = float(out["energy"][0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": out["energies"].cpu().numpy(),
            "forces": out["forces"].cpu().numpy(),
        }
        if has_volume:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"][0].cpu().numpy())
