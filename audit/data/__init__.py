"""Data files shipped with clip-audit (the default occupation list of the labels probe)."""
