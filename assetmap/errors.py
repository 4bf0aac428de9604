"""Errors a user's own input or set-up can cause, said to them without a traceback.

Light on purpose (nothing heavy imported), so that the command line can catch them before it
knows which command will run. Every error a user's input or set-up can cause is an
:class:`AssetmapError` (the modules keep their own subclasses beside the code that raises them,
each also the built-in kind it always was); the command line says any of them in one line.
"""

from __future__ import annotations


class AssetmapError(Exception):
    """Something the user can fix (their file, an option, a setting, a missing piece of set-up), said in one line.

    Never a traceback.
    """


class FileRefused(AssetmapError):
    """The whole file cannot be taken; nothing of it is stored.

    Attributes
    ----------
    reason_code
        A stable code (``empty_file``, ``unreadable``, ``missing_columns``...).
    """

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message
