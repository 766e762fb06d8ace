"""The checkers of notebook 12 (minnp/exercises/pinn.py) accept the reference solution and reject typical mistakes."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from minnp import atoms_to_batch
from minnp.descriptors import ACSF
from minnp.exercises import Hint, pinn
from minnp.models import PINN
from minnp.potentials import Tersoff
from minnp.potentials.fittable_tersoff import to_unbounded


@pytest.fixture(scope="module")
def model_and_structures():
    structures = []
    for k in range(3):
        atoms = bulk("Si", "diamond", a=5.35 + 0.05 * k, cubic=True)
        atoms.rattle(0.1, seed=k)
        structures.append(atoms)
    torch.manual_seed(0)
    model = PINN(ACSF(["Si"], r_cut=3.5, periodic=True, g2_params=[[1.0, 0.0], [4.0, 2.4]],
                      g4_params=[[0.01, 1, 1], [0.01, 1, -1]]), base=Tersoff.from_name("Si(C)"), hidden=(4,))
    model.fit_scaling(structures)
    with torch.no_grad():
        for networks in model.corrections:
            for net in networks.networks:
                net[-1].weight.normal_(0, 0.5)
    return model.eval(), structures


def test_largest_factor_checker():
    pinn.largest_factor(lambda bound: (np.exp(-bound), np.exp(bound)))
    with pytest.raises(Hint, match="added to u = log p"):
        pinn.largest_factor(lambda bound: (1 - bound, 1 + bound))
    with pytest.raises(Hint, match="limits of u - u_base"):
        pinn.largest_factor(lambda bound: (-bound, bound))


def shifts(model, structures):
    with torch.no_grad():
        batch = atoms_to_batch(structures)
        p = model.parameters_per_atom(model.descriptor(batch), model.descriptor.species_index(batch))
        return (to_unbounded(model.varied, p[:, model.columns]) - model.base_free).numpy()


def test_parameter_shifts_checker(model_and_structures):
    model, structures = model_and_structures
    pinn.parameter_shifts(lambda m, s: np.abs(shifts(m, s)), model, structures)
    with pytest.raises(Hint, match="absolute value"):
        pinn.parameter_shifts(shifts, model, structures)
    with pytest.raises(Hint, match="not p itself"):
        def in_p(m, s):
            with torch.no_grad():
                batch = atoms_to_batch(s)
                p = m.parameters_per_atom(m.descriptor(batch), m.descriptor.species_index(batch))
                return (p[:, m.columns] - m.base[m.columns]).abs().numpy()
        pinn.parameter_shifts(in_p, model, structures)
    with pytest.raises(Hint, match="one row per atom"):
        pinn.parameter_shifts(lambda m, s: np.abs(shifts(m, s)).mean(axis=0), model, structures)


def test_most_moved_checker(model_and_structures):
    model, structures = model_and_structures
    mean = np.abs(shifts(model, structures)).mean(axis=0)
    pinn.most_moved(model.varied[int(np.argmax(mean))], model, structures)
    with pytest.raises(Hint, match="another parameter moves more"):
        pinn.most_moved(model.varied[int(np.argmin(mean))], model, structures)
    with pytest.raises(Hint, match="not a varied parameter"):
        pinn.most_moved("R", model, structures)
