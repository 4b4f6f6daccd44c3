"""Interchange with other tools: NIR graphs (:mod:`neuro.interop.nir`)."""
