"""Energy modules written by hand: Lennard-Jones (notebook 00), EAM (01), Tersoff (02; FittableTersoff, its parameters trained by fit, notebook 12)."""

from minnp.potentials.eam import EAM
from minnp.potentials.lj import LennardJones
from minnp.potentials.fittable_tersoff import FittableTersoff
from minnp.potentials.tersoff import Tersoff
from minnp.potentials.zhou_eam import ZHOU_2004, ZhouEAM, ZhouParameters

__all__ = ["EAM", "FittableTersoff", "LennardJones", "Tersoff", "ZHOU_2004", "ZhouEAM", "ZhouParameters"]
