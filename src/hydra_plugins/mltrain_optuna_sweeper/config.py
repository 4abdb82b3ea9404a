"""``hydra/sweeper=optuna`` and its ``sampler`` and ``pruner`` groups in Hydra's ConfigStore.

Hydra imports this module while it scans for plugins, on every start-up: it imports no optuna.
"""

from hydra.core.config_store import ConfigStore

from mltrain.launch.optuna_config import PRUNERS, SAMPLERS, OptunaSweeperConf

_store = ConfigStore.instance()
_store.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="mltrain")
for _name, _node in SAMPLERS.items():
    _store.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="mltrain")
for _name, _node in PRUNERS.items():
    _store.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider="mltrain")
