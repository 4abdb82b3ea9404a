"""mltrain's Hydra config groups, shipped as the package ``mltrain.conf`` (one YAML file per choice)."""
