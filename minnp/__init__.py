"""minnp: a small, readable PyTorch library for the machine-learning interatomic potentials course.

Every potential, empirical or learned, is a ``torch.nn.Module`` from a :class:`Batch` of
structures to per-atom energies; :class:`Calculator` turns any of them into an ASE calculator
with forces and stress from autograd. See the repository's DESIGN.md and notebook 00.
"""

__version__ = "0.1.0"

from minnp.batch import Batch, atoms_to_batch, device
from minnp.calculator import Calculator, compute

__all__ = ["Batch", "Calculator", "atoms_to_batch", "compute", "device", "__version__"]


def __getattr__(name):
    """Submodules on first use (``minnp.plot``, ``minnp.data``, ...) without importing all up front."""
    import importlib

    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"minnp.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"minnp.{name}":
            raise AttributeError(f"module 'minnp' has no attribute {name!r}") from None
        raise
