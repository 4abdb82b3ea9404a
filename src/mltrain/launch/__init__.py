"""Above the commands: how many processes run a command, and what its outcome means for the shell.

``runner`` (one command in this process, one sweep job), ``ranks`` (a rank's part of a multi-process fit,
torchrun's lead and followers), ``local`` (``trainer.nproc=N`` on this machine), ``sweep`` (Hydra's
multirun callback).
"""
