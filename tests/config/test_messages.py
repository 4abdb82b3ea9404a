"""One-line messages for values OmegaConf refuses: the key, the value and what is valid.

python -m pytest tests/test_messages.py -q
"""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from mltrain.config.messages import user_message
from mltrain.config.schemas import TrainerConfig


def refusal(key: str, value: str) -> BaseException:
    cfg = OmegaConf.structured(TrainerConfig)
    with pytest.raises(ValidationError) as caught:
        OmegaConf.update(cfg, key, value)
    return caught.value


def test_a_bad_bool_names_key_value_and_the_valid_values() -> None:
    message = user_message(refusal("compile", "maybe"))
    assert message is not None
    assert message.startswith("compile: Value 'maybe'") and message.endswith("valid: true, false")


def test_a_bad_number_names_key_and_value() -> None:
    message = user_message(refusal("epochs", "ten"))
    assert message is not None and "epochs" in message and "'ten'" in message
    assert "valid: true, false" not in message
