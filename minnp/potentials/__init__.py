"""Energy modules written by hand: Lennard-Jones (notebook 00), EAM (01), Tersoff (02)."""

from minnp.potentials.lj import LennardJones

__all__ = ["LennardJones"]
