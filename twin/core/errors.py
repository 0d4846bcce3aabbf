"""The one exception a command turns into one line and exit code 2."""

from __future__ import annotations

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""
