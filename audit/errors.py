"""Errors that end a command with one clear line and exit code 2."""
from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: a missing file, a corrupt APK, an invalid data sheet.

    The CLI prints `appaudit: error: <message>` and exits 2; nothing else is printed.
    """


class BoundExceeded(InputError):
    """An input would take more memory or time than the audit allows (zip bombs, deep nesting)."""


class TimeLimit(BoundExceeded):
    """The command's time limit was reached (audit/watchdog.py). A stage may catch it once to end its work
    early and keep what it found (the report is then partial); the command still ends with exit 2."""


class WatchdogExpired(BaseException):
    """The grace period after TimeLimit ran out too: not an Exception, so no `except InputError` can keep the
    run going; the CLI turns it into its one error line."""
