"""Smol: a small-model AI virtual machine for the CPU.

Layers, each a sub-package, importing only downwards: ``artifact`` → ``runtime`` →
``units`` → ``lang`` → ``vm`` → ``cli``/``server``; ``models`` is the model registry.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
