"""Checkers for the course's exercises: specific, friendly feedback instead of a bare assert.

One module per notebook, named after it; a notebook imports only its own::

    from minnp.exercises import welcome as check      # notebook 00_welcome
    check.lj_minimum(lj_minimum)

A checker takes the learner's answer (a value or a function), prints a short confirmation when it
is right, and raises :class:`Hint` (from :mod:`minnp.exercises.feedback`) with what is wrong and a
nudge towards the fix when it is not. ``tests/test_exercises.py`` proves that every checker accepts
the reference solution and rejects a typical wrong answer.

=================================  ===========================================================
notebook                           module
=================================  ===========================================================
00_welcome                         :mod:`minnp.exercises.welcome`
01_eam                             :mod:`minnp.exercises.eam`
02_tersoff                         :mod:`minnp.exercises.tersoff`
03_invariance                      :mod:`minnp.exercises.invariance`
04_acsf                            :mod:`minnp.exercises.acsf`
05_soap                            :mod:`minnp.exercises.soap`
06_toy_nnp                         :mod:`minnp.exercises.toy_nnp`
07_hdnnp                           :mod:`minnp.exercises.hdnnp`
08_ewald                           :mod:`minnp.exercises.ewald`
09_qeq                             :mod:`minnp.exercises.qeq`
10_fourth_generation               :mod:`minnp.exercises.fourth_generation`
=================================  ===========================================================
"""

from minnp.exercises.feedback import Hint

__all__ = ["Hint"]
