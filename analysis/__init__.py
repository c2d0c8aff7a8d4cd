"""BEST and rate comparisons of toxft runs (imported as ``toxft.analysis``)."""
