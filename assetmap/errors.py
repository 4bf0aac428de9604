"""Errors a user's own input or set-up can cause, said to them without a traceback.

Light on purpose (nothing heavy imported), so that the command line can catch them before it
knows which command will run. More of them will gather here (issue 26).
"""

from __future__ import annotations


class FileRefused(Exception):
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
