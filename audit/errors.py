"""Errors that end a command with one clear line and exit code 2."""
from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: a missing file, a corrupt APK, an invalid data sheet.

    The CLI prints `appaudit: error: <message>` and exits 2; nothing else is printed.
    """


class BoundExceeded(InputError):
    """An input would take more memory or time than the audit allows (zip bombs, deep nesting)."""
