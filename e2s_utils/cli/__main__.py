"""``python -m e2s_utils.cli``: the ``e2s`` command."""

from e2s_utils.cli import run

run()
