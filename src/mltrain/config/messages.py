"""One-line messages for user errors, Hydra's and OmegaConf's included: what ``cli.py`` prints before
exiting with status 2.

    message = user_message(error, command="fit")     # None: not a user error (a bug: show the traceback)
"""

from __future__ import annotations

import re
from typing import Any

from mltrain.config.catalog import command_keys, group_choices
from mltrain.errors import UserError, did_you_mean

# Hydra plugins that are not installed by default: the extra that brings each
PLUGIN_EXTRAS = {
    "hydra/sweeper": {"optuna": "sweep"},
    "hydra/launcher": {"joblib": "sweep", "submitit_local": "sweep", "submitit_slurm": "sweep"},
}


def user_message(error: BaseException, command: str = "fit") -> str | None:
    """The one-line message for a user error, or ``None`` for anything else."""
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if isinstance(error, UserError):
        return str(error)
    known = _known_plugin_error(error)
    if known is not None:
        return known
    if isinstance(error, MissingConfigException) and "/" in (error.missing_cfg_file or ""):
        group, _, value = error.missing_cfg_file.rpartition("/")
        return _missing_choice(group, value, error.options)
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    if isinstance(cause, MissingMandatoryValue):
        key = getattr(cause, "full_key", "") or "a required key"
        return f"{key} is required and has no value; set it on the command line, e.g. {key}=..."
    if isinstance(cause, OmegaConfBaseException):
        return _omegaconf_message(cause, str(error) if cause is not error else "", command)
    if isinstance(error, HydraException):
        return " ".join(str(error).split())
    return None


def _known_plugin_error(error: BaseException) -> str | None:
    """Hydra's and its launchers' own refusals of what the user typed, in one line."""
    text = str(error)
    if isinstance(error, ValueError) and text.startswith("Only one of --run, --multirun"):
        return f"{text}; drop -m to print a sweep's settings: mltrain fit hydra/launcher=... --cfg hydra"
    if isinstance(error, RuntimeError) and 'Could not detect "srun"' in text:
        return (
            "hydra/launcher=submitit_slurm needs SLURM's srun, which this machine does not have: run the "
            "sweep on the cluster's login node, or try it here with hydra/launcher=submitit_local"
        )
    return None


def _missing_choice(group: str, value: str, options: list[str] | None) -> str:
    extra = PLUGIN_EXTRAS.get(group, {}).get(value)
    if extra:
        return (
            f"{group}={value} needs a Hydra plugin that is not installed; install the {extra} extra: "
            f'pip install -e ".[{extra}]" (or pip install "mltrain[{extra}]")'
        )
    choices = options or group_choices(group)
    return f"{group}={value} is not a choice; valid: {', '.join(choices)}{did_you_mean(value, choices)}"


# OmegaConf's refusal of a typed key's value: "Value 'abc' of type 'str' could not be converted to Integer"
NOT_CONVERTED = re.compile(
    r"Value '(?P<value>.*)' of type '\w+' could not be converted to (?P<kind>Integer|Float)"
)


def _omegaconf_message(error: Any, context: str, command: str) -> str:
    """``trainer.epochs=abc: Value 'abc' could not be converted to Integer`` from OmegaConf's report."""
    first = str(error).splitlines()[0].strip()
    key = getattr(error, "full_key", None)
    if type(error).__name__ in ("ConfigKeyError", "ConfigAttributeError") and key:
        parent, _, leaf = str(key).rpartition(".")
        return f"{key} is not a config key{_valid_keys(parent, leaf, command)}"
    lead = context.splitlines()[0].strip() if context else ""
    if "is not a valid bool" in first:  # OmegaConf takes true/false, yes/no, on/off, 1/0
        first += "; valid: true, false"
    converted = NOT_CONVERTED.search(first)
    if key and converted:  # a schema's typed key: say what it takes, as the commands' own checks do
        kind = "a whole number" if converted["kind"] == "Integer" else "a number"
        return f"{key} must be {kind}, got {converted['value']!r}"
    return f"{key}: {first}" if key else (f"{lead} {first}".strip())


def _valid_keys(parent: str, leaf: str, command: str) -> str:
    """ "; valid keys of trainer: ..., did you mean epochs?" from the command's primary config."""
    from mltrain.config.schemas import FitConfig, TrainerConfig

    known = {"": list(FitConfig.__dataclass_fields__), "trainer": list(TrainerConfig.__dataclass_fields__)}
    if command != "fit":  # evaluate, predict: the keys of their primary config
        known = {"": command_keys(command)}
    if parent in known:
        keys = known[parent]
        return f"; valid keys of {parent or 'the config'}: {', '.join(keys)}{did_you_mean(leaf, keys)}"
    return (
        f" (see `mltrain {command} --cfg job` for the keys of {parent}; "
        f"`+{parent}.{leaf}=...` adds a new key)"
    )
