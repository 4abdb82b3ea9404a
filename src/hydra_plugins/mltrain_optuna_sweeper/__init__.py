"""mltrain's Optuna sweeper, registered where Hydra looks for plugins (the ``hydra_plugins`` namespace).

Only the registration lives here; the sweeper is ``mltrain.launch.optuna_sweeper``.
"""
