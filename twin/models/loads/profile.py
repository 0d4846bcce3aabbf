"""A measured profile in mosaik-csv's format: read, checked, and what happens at its end.

The format (mosaik-csv 2): an optional first line with the model name alone, a header line
``Date,<attr>,<attr>...`` and one row per time, ``2027-01-01 00:00:00,12.5,...``; each row
holds from its time until the next row's. Light: standard library only, so that a scenario
validates without pandas.

:func:`read` parses the text and reports, one message per column, every value the run would
take that is not a finite number (``nan``, ``inf``, empty, text) and every negative value of a
column that feeds a load's power, each with its line; rows whose time is missing or not after
the previous row's are refused with their line. What a run does at the profile's end
(``on_end`` of the external simulator):

- ``error``: a profile that ends before the run is refused;
- ``hold``: its last row holds to the end (mosaik-csv's own behaviour), with a warning;
- ``repeat``: the profile starts again after its end, shifted by its length (last row -
  first row + one row's spacing): :func:`write_repeated` writes the repeated rows that the
  run's simulator then reads;
- ``stop``: the run ends where the profile ends (whole steps), with a warning; a profile that
  ends before the run's first step is refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NONNEGATIVE", "ON_END", "Profile", "ProfileError", "read", "repeat_file",
           "write_repeated"]

#: What a run does when the profile ends before it.
ON_END = ("error", "hold", "repeat", "stop")

#: Inputs of park entities that a profile may feed and that must not be negative (a load's
#: consumption, :data:`twin.models.loads.factory` ``p_profile_mw``).
NONNEGATIVE = frozenset({"p_profile_mw"})

_SHOWN = 3  # bad lines named in a message; the rest are counted


class ProfileError(ValueError):
    """The profile cannot be used: the message names the line (``<file>:<line>``) and column."""


@dataclass(frozen=True)
class Profile:
    """A profile's rows: their times (naive, as written), and where the rows start."""

    name: str
    header: list[str]  # the lines before the first row (model name, column names)
    times: list[dt.datetime]
    rows: list[list[str]]  # the cells of each row, the time first

    @property
    def spacing(self) -> dt.timedelta:
        """The spacing of the last two rows (one row's span at the end)."""
        if len(self.times) < 2:
            return dt.timedelta(0)
        return self.times[-1] - self.times[-2]

    @property
    def end(self) -> dt.datetime:
        """Where the profile's last row ends."""
        return self.times[-1] + self.spacing

    @property
    def length(self) -> dt.timedelta:
        """The span the profile repeats with (``repeat``)."""
        return self.end - self.times[0]


def parse_time(value: object) -> dt.datetime:
    """A row's time (naive: as mosaik-csv reads it)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value).strip()).replace(tzinfo=None)


def _is_time(cell: str) -> bool:
    try:
        parse_time(cell)
    except ValueError:
        return False
    return True


def _column(name: str) -> str:
    """mosaik-csv's attribute name of a header cell (a ``#`` comment stripped)."""
    return name.split("#", 1)[0].strip()


def read(text: str, name: str, delimiter: str = ",", nonnegative: frozenset[str] = frozenset(),
         used: frozenset[str] | None = None) -> Profile:
    """Parse profile ``text`` (file ``name``); check the columns ``used`` (all by default),
    and that the columns in ``nonnegative`` are not negative.

    Raises :class:`ProfileError` with one line per problem.
    """
    lines = text.splitlines()
    cells = list(csv.reader(lines, delimiter=delimiter))
    first = next((k for k, row in enumerate(cells) if row and _is_time(row[0])), None)
    if first is None:
        raise ProfileError(f"{name}: expected rows starting with a date and time like "
                           "2027-01-01 00:00:00")
    header = [row for row in cells[:first] if any(c.strip() for c in row)]
    columns = [_column(c) for c in header[-1][1:]] if header and len(header[-1]) > 1 else []
    errors: list[str] = [f"{name}:{first}: no column {c!r} (the file has "
                         f"{', '.join(columns) or 'none'})" for c in sorted(used or ())
                         if c not in columns]
    bad: dict[str, list[tuple[int, str]]] = {}
    times: list[dt.datetime] = []
    rows: list[list[str]] = []
    for k in range(first, len(cells)):
        row = cells[k]
        if not any(c.strip() for c in row):
            continue
        line = k + 1
        try:
            t = parse_time(row[0])
        except ValueError:
            errors.append(f"{name}:{line}: expected a date and time like 2027-01-01 00:00:00 "
                          f"in the first column, got {row[0]!r}")
            continue
        if times and t <= times[-1]:
            errors.append(f"{name}:{line}: {t:%Y-%m-%d %H:%M:%S} is not after the previous "
                          f"row's {times[-1]:%Y-%m-%d %H:%M:%S}; expected rows in time order")
            continue
        times.append(t)
        rows.append(row)
        _check_row(row, line, [c if used is None or c in used else "" for c in columns],
                   nonnegative, bad)
    for what, found in bad.items():
        line, cell = found[0]
        more = f" (and {len(found) - 1} more rows)" if len(found) > 1 else ""
        errors.append(f"{name}:{line}: column {what}, got {cell!r}{more}")
    if errors:
        raise ProfileError("\n".join(errors))
    return Profile(name, [delimiter.join(row) for row in header], times, rows)


def _check_row(row: list[str], line: int, columns: list[str], nonnegative: frozenset[str],
               bad: dict[str, list[tuple[int, str]]]) -> None:
    """Add the row's cells that are not finite numbers, or negative in a ``nonnegative``
    column, to ``bad`` (per column and problem); columns named "" are not checked."""
    for j, column in enumerate(columns):
        if not column:
            continue
        cell = row[j + 1].strip() if j + 1 < len(row) else ""
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            bad.setdefault(f"{column}: expected a finite number", []).append((line, cell))
        elif value < 0 and column in nonnegative:
            bad.setdefault(f"{column}: expected a load's power >= 0 (MW)", []).append(
                (line, cell))


def write_repeated(profile: Profile, until: dt.datetime, path: Path,
                   delimiter: str = ",") -> Path:
    """Write the profile's rows again and again after its end (each pass shifted by
    :attr:`Profile.length`) until ``until``; return ``path``."""
    if profile.length <= dt.timedelta(0):
        raise ProfileError(f"{profile.name}: a profile of one row cannot repeat; expected two "
                           "rows or more")
    out = [*profile.header]
    shift = dt.timedelta(0)
    while profile.times[0] + shift < until:
        for t, row in zip(profile.times, profile.rows, strict=True):
            out.append(delimiter.join([f"{t + shift:%Y-%m-%d %H:%M:%S}", *row[1:]]))
        shift += profile.length
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def repeat_file(source: Path, until: dt.datetime, path: Path, delimiter: str = ",") -> Path:
    """Write the profile file ``source`` repeated until ``until`` to ``path`` (``on_end:
    repeat``, :func:`write_repeated`); return ``path``."""
    from twin.core import textload

    text = textload.read_text(source, "profile", ProfileError)
    return write_repeated(read(text, source.name, delimiter), until, path, delimiter)
