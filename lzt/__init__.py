"""lzt: training-free zero-shot multi-label image tagging (CoMC, ICML 2024)."""

__version__ = "0.1.0"
