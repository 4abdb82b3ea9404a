"""Above the commands: how many processes run a command, and what its outcome means for the shell.

``hydra_job`` (a single run of the command line or ``mltrain.fit``), ``runner`` (one command in this
process, one sweep job; ``launch_fit`` decides single process / ``trainer.nproc`` / torchrun), ``ranks``
(a rank's part of a multi-process fit, torchrun's lead and followers), ``local`` (``trainer.nproc=N`` on
this machine), ``sweep`` (Hydra's multirun callback). :func:`join_torchrun` gives each torchrun process
its role before anything is composed.
"""

from __future__ import annotations

import os


def join_torchrun(command: str) -> int | None:
    """Under torchrun (``WORLD_SIZE`` > 1), a fit's ranks > 0 follow rank 0: run the jobs it composes and
    shares, then return their exit status; rank 0 arranges to release them and goes on (``None``), as
    does every process not started by torchrun.
    """
    if command != "fit" or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from mltrain.launch import ranks  # torch.distributed and the fit: imported only under torchrun

    if ranks.torchrun_rank():
        return ranks.follow()
    ranks.lead()
    return None
