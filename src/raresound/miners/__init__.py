"""Miners: choose the partners of each anchor for the embedding losses (raresound.losses)."""

from raresound.miners.quintuplets import QUINTUPLET_COLUMNS, build_quintuplets, partner_indices

__all__ = ["QUINTUPLET_COLUMNS", "build_quintuplets", "partner_indices"]
