"""Every checker in minnp.exercises accepts the reference solution and rejects a typical mistake."""

import numpy as np
import pytest
from ase.units import kB

import minnp.exercises as check


def test_hint_renders_without_a_traceback():
    assert check.Hint("off by two")._render_traceback_() == ["\u2718 Not yet: off by two"]


def test_lj_minimum_checker():
    check.lj_minimum(lambda sigma: 2 ** (1 / 6) * sigma)
    with pytest.raises(check.Hint, match="where u\\(r\\) = 0"):
        check.lj_minimum(lambda sigma: sigma)
    with pytest.raises(check.Hint, match="2\\^\\(1/3\\)"):
        check.lj_minimum(lambda sigma: 2 ** (1 / 3) * sigma)


def test_kinetic_temperature_checker():
    def right(m, p):
        return np.sum(p**2 / m[:, None]) / (3 * len(m) * kB)

    check.kinetic_temperature(right)
    with pytest.raises(check.Hint, match="half"):
        check.kinetic_temperature(lambda m, p: right(m, p) / 2)
    with pytest.raises(check.Hint, match="Boltzmann"):
        check.kinetic_temperature(lambda m, p: right(m, p) * kB)
