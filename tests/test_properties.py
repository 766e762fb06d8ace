"""minnp.descriptors.properties: the invariance tests pass for ACSF and catch raw coordinates."""

import numpy as np
import pytest
from ase.build import bulk, molecule

from minnp.descriptors import ACSF
from minnp.descriptors.properties import (
    check_invariances,
    invariance_errors,
    pair_jacobian_error,
    random_rotation,
)


def test_random_rotation_is_a_proper_rotation():
    rng = np.random.default_rng(1)
    for _ in range(10):
        r = random_rotation(rng)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-14)
        assert np.isclose(np.linalg.det(r), 1.0)


PARAMS = dict(r_cut=5.0, g2_params=[[0.5, 2.0]], g4_params=[[0.01, 2.0, -1.0]], g5_params=[[0.02, 1.0, 1.0]])


def test_acsf_passes_every_property_in_a_crystal():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(0.1, seed=2)
    errors = check_invariances(ACSF(species=["Na", "Cl"], periodic=True, **PARAMS).create, atoms)
    assert set(errors) == {"translation", "rotation", "permutation", "supercell"}
    assert max(errors.values()) < 1e-12


def test_acsf_passes_every_property_in_a_molecule():
    errors = check_invariances(ACSF(species=["H", "C", "O"], **PARAMS).create, molecule("CH3CH2OH"))
    assert set(errors) == {"translation", "rotation", "permutation"}
    assert max(errors.values()) < 1e-12


def test_raw_coordinates_fail_translation_and_rotation_only():
    errors = invariance_errors(lambda atoms: atoms.positions, molecule("CH3CH2OH"))
    assert errors["translation"] > 0.1 and errors["rotation"] > 0.1
    assert errors["permutation"] == 0.0, "rows of per-atom coordinates do follow their atoms"
    with pytest.raises(AssertionError, match="translation .*rotation"):
        check_invariances(lambda atoms: atoms.positions, molecule("CH3CH2OH"))



def test_pair_jacobian_error_catches_a_wrong_jacobian():
    from minnp.batch import atoms_to_batch

    class Wrong(ACSF):  # a pair Jacobian off by a factor 2
        def pair_jacobian(self, batch, nbrs=None):
            G, nbrs, J = super().pair_jacobian(batch, nbrs)
            return G, nbrs, 2 * J

    batch = atoms_to_batch(molecule("CH3CH2OH"))
    params = dict(species=["H", "C", "O"], r_cut=4.0, g2_params=[[1.0, 0.0]], g4_params=[[0.01, 1.0, -1.0]])
    assert pair_jacobian_error(ACSF(**params), batch, [0, 7]) < 1e-7
    assert pair_jacobian_error(Wrong(**params), batch, [0, 7]) > 0.1
