"""minnp.exercises.gap: each checker accepts the reference solution and rejects a typical mistake."""

import numpy as np
import pytest

from minnp.exercises import Hint
from minnp.exercises import gap as check


def _unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_soap_kernel_accepts_the_normalised_power_and_rejects_raw_vectors(capsys):
    check.soap_kernel(lambda x, y, delta, zeta: delta**2 * (_unit(x) @ _unit(y).T) ** zeta)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(Hint, match="normalise the vectors"):
        check.soap_kernel(lambda x, y, delta, zeta: delta**2 * (x @ y.T) ** zeta)
    with pytest.raises(Hint, match="multiply by δ²"):
        check.soap_kernel(lambda x, y, delta, zeta: delta * (_unit(x) @ _unit(y).T) ** zeta)


def test_energy_noise_accepts_the_square_root_and_rejects_linear_scaling(capsys):
    check.energy_noise(lambda sigma, n: sigma * np.sqrt(n))
    assert "✔" in capsys.readouterr().out
    with pytest.raises(Hint, match="quadrature"):
        check.energy_noise(lambda sigma, n: sigma * n)
    with pytest.raises(Hint, match="per atom"):
        check.energy_noise(lambda sigma, n: sigma)


def test_kernel_distance_accepts_the_kernel_metric_and_rejects_its_square(capsys):
    def reference(x, y, delta, zeta):
        return np.sqrt(2 * delta**2 * (1 - (_unit(x) @ _unit(y).T) ** zeta))

    check.kernel_distance(reference)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(Hint, match="d²"):
        check.kernel_distance(lambda x, y, d, z: reference(x, y, d, z) ** 2)
    with pytest.raises(Hint, match="Euclidean"):
        check.kernel_distance(lambda x, y, d, z: np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1)))
