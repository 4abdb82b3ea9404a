"""mltrain: Hydra-composed PyTorch training runs from the shell. Run ``mltrain --help``."""

__version__ = "0.1.0"
