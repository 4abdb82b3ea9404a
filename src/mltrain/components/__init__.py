"""Named builders for each config group: optimizers, losses, metrics, models, schedulers."""
