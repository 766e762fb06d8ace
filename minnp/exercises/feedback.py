"""What every checker shares: the :class:`Hint` a wrong answer raises, the ``✔`` line a right one
prints, and the comparison and conversion of a learner's answer.

Each notebook's checkers live in their own module of :mod:`minnp.exercises` (``welcome``, ``eam``,
... ``fourth_generation``) and use only these four names.
"""

from __future__ import annotations

import numpy as np


class Hint(AssertionError):
    """An answer that is not right yet; the message says why. Shown without a traceback in Jupyter."""

    def _render_traceback_(self):  # IPython shows this instead of the traceback
        return [f"\u2718 Not yet: {self}"]


def ok(message: str) -> None:
    """Confirm a right answer (and say what it means)."""
    print(f"\u2714 {message}")


def close(value, expected, rtol=1e-6, atol=0.0) -> bool:
    """Whether a learner's answer equals ``expected`` to within ``rtol``/``atol``, element-wise."""
    return bool(np.allclose(np.asarray(value, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=atol))


def answer(value) -> np.ndarray:
    """A learner's answer (NumPy, torch, a float or nested lists) as float64 NumPy."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)
