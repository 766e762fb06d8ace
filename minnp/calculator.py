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
to fit forces); :class:`Calculator` wraps it for ASE's MD, optimisers and EOS tools. A
structure with ``pbc=False`` everywhere is an isolated cluster: its "box" is arbitrary, so it
has no stress, and the calculator refuses it as ASE's convention asks
(``PropertyNotImplementedError``).
"""

from __future__ import annotations

import copy

import torch
from ase.calculators.calculator import Calculator as _AseCalculator
from ase.calculators.calculator import PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from minnp.batch import Batch, atoms_to_batch, sum_per_structure
from minnp.batch import device as default_device

Tensor = torch.Tensor


def compute(
    model: torch.nn.Module,
    batch: Batch,
    forces: bool = True,
    stress: bool = False,
    create_graph: bool = False,
    charges: bool = False,
) -> dict[str, Tensor]:
    """Energies, and by autograd forces and stress, for a batch of structures.

    Returns ``energy`` (B,), ``energies`` (N,), and when asked ``forces`` (N, 3) in eV/Å and
    ``stress`` (B, 3, 3) in eV/Å³, all detached. ``create_graph=True`` keeps the graph of
    energies and forces so a loss on them can be differentiated again (training on forces).
    ``charges=True`` (models with ``energies_and_charges(batch)``, the 3G/4G networks) adds the
    atomic ``charges`` (N,) in e from the same forward pass.
    """
    if charges and not hasattr(model, "energies_and_charges"):
        raise TypeError(f"{type(model).__name__} predicts no atomic charges (it has no energies_and_charges "
                        "method): ask for energies and forces only")
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
        positions = torch.einsum("na,nab->nb", positions, deform[batch.structure])  # (N, 3)
        cell = cell @ deform  # (B, 3, 3)
    with torch.set_grad_enabled(bool(inputs) or torch.is_grad_enabled()):
        moved = batch.replace(positions=positions, cell=cell)
        if charges:
            energies, q = model.energies_and_charges(moved)  # (N,), (N,)
        else:
            energies = model(moved)  # (N,)
        energy = sum_per_structure(energies, batch)  # (B,)
        out = {"energy": energy, "energies": energies} | ({"charges": q} if charges else {})
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

    Gives ``energy`` and ``free_energy`` (eV), per-atom ``energies``, ``forces`` (eV/Å) and, for
    a periodic structure with a three-dimensional cell, ``stress`` (eV/Å³, Voigt order); it
    computes only what ASE asks for (stress only when asked).

    The caller's model is never changed: when it already lives on ``device`` (default
    :func:`minnp.device`) in ``dtype`` (default float64), the calculator uses it as it is (later
    changes to it show in the results); otherwise the calculator works on a converted copy made
    here, and ``calc.model`` is that copy.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model: torch.nn.Module, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float64, **kwargs):
        super().__init__(**kwargs)
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = dtype
        self.model = model if _lives_on(model, self.device, dtype) else copy.deepcopy(model).to(self.device, dtype)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        stress = "stress" in properties
        if stress and not self.atoms.pbc.any():
            raise PropertyNotImplementedError(
                "stress is not defined for a structure with pbc=False everywhere: an isolated cluster has no "
                "cell to strain (its box is arbitrary; ASE's convention is to refuse). Ask for energy and "
                "forces only, or make the structure periodic (atoms.pbc = True with a three-dimensional cell)")
        if stress and self.atoms.cell.rank < 3:
            raise PropertyNotImplementedError(
                "stress needs a three-dimensional cell; this structure's cell has rank "
                f"{self.atoms.cell.rank} (give it a cell or ask only for energy and forces)")
        forces = "forces" in properties
        batch = atoms_to_batch(self.atoms, device=self.device, dtype=self.dtype)
        out = compute(self.model, batch, forces=forces, stress=stress)
        energy = float(out["energy"][0])
        # ASE resets the results when the structure changes; for the same structure they add up
        self.results.update(energy=energy, free_energy=energy, energies=out["energies"].cpu().numpy())
        if forces:
            self.results["forces"] = out["forces"].cpu().numpy()
        if stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"][0].cpu().numpy())


def _lives_on(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> bool:
    """Whether every floating-point parameter and buffer of ``model`` is on ``device`` in ``dtype``."""
    tensors = [*model.parameters(), *model.buffers()]
    on_device = all(t.device.type == device.type and (device.index is None or t.device.index == device.index)
                    for t in tensors)
    return on_device and all(t.dtype == dtype for t in tensors if t.is_floating_point())
