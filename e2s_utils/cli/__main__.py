"""``python -m e2s_utils.cli``: the ``e2s`` command."""

import sys

from e2s_utils.cli import main

sys.exit(main())
