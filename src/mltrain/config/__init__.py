"""From what the user typed to a checked config: schemas, composition, validation, error wording.

``schemas`` (typed keys, no torch), ``catalog`` (what ``conf/`` holds), ``checks`` (problems the config
alone shows), ``data_problems`` (problems against the loaded data), ``messages`` (Hydra's and OmegaConf's
errors as one line), ``overrides`` (Python values as override strings), ``help`` (a command's own keys).
"""
