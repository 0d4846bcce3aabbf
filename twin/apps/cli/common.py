"""What every command shares: the user's mistakes as one line, the scenario argument."""

from __future__ import annotations

import sys
from typing import Any

from twin.core.errors import EXIT_USAGE, UserError

__all__ = ["EXIT_USAGE", "UserError", "load_scenario"]


def load_scenario(path: str, days: float | None = None) -> Any:
    """The scenario at ``path`` (its first ``days`` if given); a mistake is a :class:`UserError`."""
    from twin.scenario import ScenarioError, load  # lazy: ``twin --help`` stays fast

    try:
        scenario = load(path)
        for line in scenario.warnings:  # plausible but unusual values: said, not refused
            print(f"warning: {line}", file=sys.stderr)
        return scenario.with_days(days) if days is not None else scenario
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
