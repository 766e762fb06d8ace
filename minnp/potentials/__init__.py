"""Energy modules written by hand: Lennard-Jones (notebook 00), EAM (01), Tersoff (02)."""

from minnp.potentials.eam import EAM, ZhouEAM
from minnp.potentials.lj import LennardJones
from minnp.potentials.tersoff import Tersoff

__all__ = ["EAM", "LennardJones", "Tersoff", "ZhouEAM"]
