"""The one error type users see.

Every failure caused by input (a file, a config key, a missing package or program) is raised as
:class:`DistillError` with a message that names what is wrong and how to fix it. The console
scripts print it as a single ``error: ...`` line and exit with status 2; a traceback is shown only
with ``HYDRA_FULL_ERROR=1`` or ``DISTILL_DEBUG=1``.
"""

from __future__ import annotations


class DistillError(Exception):
    """A problem with the user's input or environment, with a hint on how to fix it.

    Args:
        message: What is wrong, naming the file, line, key or resource.
        fix: How to fix it (appended to the message as ``fix: ...``).
    """

    def __init__(self, message: str, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message if fix is None else f"{message} (fix: {fix})")
