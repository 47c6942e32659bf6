"""The project's error base class: every error a user can fix derives from :class:`E2SError`.

Each stage raises its own subclass (``DataError``, ``StoreError``, ``FusionError`` ...) whose message
names the file or id at fault and the fix. The command line catches :class:`E2SError` and prints one
``error:`` line (exit code 2) instead of a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class E2SError(Exception):
    """A problem with the user's input, configuration or files (the message says the fix)."""


class OutputError(E2SError, OSError):
    """An output file that could not be written (full disk, permissions)."""
