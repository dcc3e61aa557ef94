"""Losses: one small class per file, all deriving from raresound.losses.base.Loss."""
