"""The training loop: plain PyTorch, no Hydra, no files (callbacks write those)."""
