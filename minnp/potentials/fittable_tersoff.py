"""Tersoff's parameters fitted by gradient descent: the classical potential trained like a network.

Notebook 12 refits Si(C) to DFT silicon with :func:`minnp.train.fit`, and its PINN varies the same
parameters atom by atom (:mod:`minnp.models.pinn`); notebook 15 exports the refitted set to LAMMPS.
The energy is :class:`~minnp.potentials.tersoff.Tersoff`'s (notebook 02); only how the parameters
are stored changes: each fitted p as an unbounded u (log p, or atanh cos θ0), so that every
gradient step gives a valid Tersoff entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from minnp.batch import Batch, species_index
from minnp.potentials.tersoff import COLUMN, Tersoff, TersoffEntry, _check_entry, _triples

Tensor = torch.Tensor


FITTABLE = ("A", "B", "lambda1", "lambda2", "beta", "n", "c", "d", "costheta0", "lambda3")


def to_unbounded(names: Sequence[str], values: Tensor) -> Tensor:
    """Parameters (..., k) in the named columns -> unbounded numbers u: log p, or atanh(cos θ0)."""
    angle = torch.tensor([n == "costheta0" for n in names], device=values.device)
    return torch.where(angle, torch.atanh(values), torch.log(values))


def from_unbounded(names: Sequence[str], u: Tensor) -> Tensor:
    """The inverse of :func:`to_unbounded`: p = e^u > 0, cos θ0 = tanh u in (-1, 1)."""
    angle = torch.tensor([n == "costheta0" for n in names], device=u.device)
    return torch.where(angle, torch.tanh(u), torch.exp(u))


def fittable_columns(names: Sequence[str], table: Tensor, owner: str) -> list[int]:
    """The columns of ``names``, checked: each may vary and its values (in ``table`` (..., 14))
    can be written as e^u or tanh u."""
    for name in names:
        if name not in FITTABLE:
            raise ValueError(f"{owner} cannot vary {name!r}: choose among {list(FITTABLE)} (m is discrete, the "
                             "cutoff R, D fixes the neighbour list, γ only rescales ζ as β does)")
        v = table[..., COLUMN[name]]
        if not ((v.abs() < 1) if name == "costheta0" else (v > 0)).all():
            raise ValueError(f"{owner}: {name} = {v.flatten().tolist()} cannot vary: it must be "
                             f"{'inside (-1, 1)' if name == 'costheta0' else 'positive (it is written as e^u)'}; "
                             f"leave {name!r} out of the varied parameters")
    return [COLUMN[name] for name in names]


def energy_shift(structures, model_energies: Sequence[float], numbers: Sequence[int]) -> Tensor:
    """Per-element e_Z (S,): least squares of E_DFT - E_model per structure on the element counts."""
    counts = torch.tensor([[float((a.numbers == z).sum()) for z in numbers] for a in structures],
                          dtype=torch.float64)  # (B, S)
    residual = torch.tensor([a.get_potential_energy() - float(e) for a, e in zip(structures, model_energies)],
                            dtype=torch.float64)  # (B,)
    return torch.linalg.lstsq(counts, residual[:, None]).solution[:, 0]


class FittableTersoff(Tersoff):
    """Tersoff with trainable parameters and a per-element energy shift, for :func:`minnp.train.fit`.

    >>> model = FittableTersoff.from_name("Si(C)")   # start from a published set

    Each fitted parameter p of every entry is stored unbounded, as u = log p (p > 0: A, B, λ1,
    λ2, β, n, c, d, λ3) or u = atanh(cos θ0) (|cos θ0| < 1), and gradient descent moves u.
    Any u gives a valid Tersoff entry, and a step in u is a *relative* change of p, which suits
    parameters that differ by nine orders of magnitude (A ≈ 10³ eV, β ≈ 10⁻⁶). m, γ and the
    cutoff R, D stay fixed. The ``table`` buffer always holds the current parameters
    (n_el, n_el, n_el, 14), so :meth:`tersoff` (or any writer of LAMMPS files) sees a valid
    Tersoff table; entries are fitted independently (no mixing rule is imposed).

    DFT total energies have an arbitrary zero (VASP's PAW reference, not free atoms), so each
    atom of element Z adds a trainable e_Z, set first by least squares (:meth:`fit_energy_shift`,
    which :func:`minnp.train.fit` calls). It changes no force; a LAMMPS file has no place for it.
    """

    def __init__(self, species: Sequence[str], entries: dict[tuple[str, str, str], TersoffEntry],
                 fit: Sequence[str] = FITTABLE):
        super().__init__(species, entries)
        self.fitted = list(fit)
        self.register_buffer("columns", torch.tensor(fittable_columns(self.fitted, self.table, "FittableTersoff")))
        self.free = torch.nn.Parameter(to_unbounded(self.fitted, self.table[..., self.columns]))  # (.., k)
        self.energy_shift = torch.nn.Parameter(torch.zeros(len(self.species), dtype=self.table.dtype))  # (S,)

    def parameter_table(self) -> Tensor:
        """The current table (n_el, n_el, n_el, 14), differentiable in the free parameters."""
        return self.table.index_copy(-1, self.columns, from_unbounded(self.fitted, self.free))

    def forward(self, batch: Batch) -> Tensor:
        table = self.parameter_table()
        with torch.no_grad():
            self.table.copy_(table)  # the buffer stays a valid Tersoff table of the current parameters
        t = species_index(batch.numbers, self.numbers, "this Tersoff potential")  # (N,)
        return self.energies(batch, table) + self.energy_shift[t]

    @torch.no_grad()
    def fit_energy_shift(self, structures) -> Tensor:
        """e_Z by least squares of E_DFT - E_Tersoff on the element counts (before training)."""
        from minnp.train import predict  # train imports the models, not the other way round

        self.energy_shift.zero_()
        self.energy_shift.copy_(energy_shift(structures, predict(self, structures, forces=False)["energy"],
                                             self.numbers))
        return self.energy_shift

    def tersoff(self) -> Tersoff:
        """A plain :class:`Tersoff` with the fitted parameters (checked as LAMMPS checks a file)."""
        table = self.parameter_table().detach().cpu()
        entries = {}
        for a, b, c in _triples(range(len(self.species))):
            key = (self.species[a], self.species[b], self.species[c])
            entries[key] = TersoffEntry(*table[a, b, c].tolist())
            _check_entry(entries[key], "fitted entry " + " ".join(key))
        return Tersoff(self.species, entries)
