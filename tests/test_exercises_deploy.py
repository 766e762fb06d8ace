"""The checkers of notebook 15 accept the reference solutions and reject typical wrong answers."""

import numpy as np
import pytest

from minnp.exercises import deploy as check
from minnp.exercises.feedback import Hint


def stress(p):
    xx, yy, zz, xy, xz, yz = p
    return -np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]) / 1.6021765e6


def count(k, hidden):
    widths = [k, *hidden, 1]
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def test_reference_solutions_pass(capsys):
    check.lammps_stress(stress)
    check.forces_back(lambda f, r: f @ r.T)
    check.mliap_parameter_count(count)
    assert capsys.readouterr().out.count("\u2714") == 3


@pytest.mark.parametrize("wrong, message", [
    (lambda p: -stress(p), "the sign"),
    (lambda p: stress(p) * 1.6021765e6 / 1e4, "not 1e-4"),
    (lambda p: stress([p[0], p[1], p[2], p[5], p[4], p[3]]), "xy, xz, yz"),
    (lambda p: stress(p)[0], "full symmetric 3x3"),
])
def test_lammps_stress_rejects(wrong, message):
    with pytest.raises(Hint, match=message):
        check.lammps_stress(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda f, r: f @ r, "rotates once more"),
    (lambda f, r: f, "turn with the cell"),
])
def test_forces_back_rejects(wrong, message):
    with pytest.raises(Hint, match=message):
        check.forces_back(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda k, h: sum(a * b for a, b in zip([k, *h], [*h, 1])), "bias"),
    (lambda k, h: count(k, h) + 2 * k, "scaling numbers"),
    (lambda k, h: 7, "nparams"),
])
def test_mliap_parameter_count_rejects(wrong, message):
    with pytest.raises(Hint, match=message):
        check.mliap_parameter_count(wrong)
