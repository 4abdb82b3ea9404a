"""``python -m mltrain`` is the same as the ``mltrain`` command."""

from mltrain.cli import main

if __name__ == "__main__":
    main()
