"""Generated board sets with disjoint seed ranges for training, evaluation and development.

A set is a list of :class:`Item` (which golden design, which sample seed); building the
boards is left to the caller so that workers can build their share. The seed of a design
or sample is ``BASE[role] + 1000 * seed + index`` (designs) or ``BASE[role] + 1000 * seed
+ 500_000 + index`` (samples); bases are 10 million apart and ``seed < 1000``, so two roles
never share a seed (:func:`seed_range`). The tuning during development used the ``dev``
range and hand-picked seeds below 1 million, never the ``eval`` range.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.models.aoi import board

BASE = {"train": 20_000_000, "eval": 10_000_000, "dev": 30_000_000}
SAMPLES_PER_DESIGN = 8
MAX_SEED = 999


@dataclass(frozen=True)
class Item:
    """One board of a set: the golden design (``None``: the pygerber board) and sample seed."""

    design: int | None
    sample: int


def items(role: str, n: int, seed: int = 0, *, gerber: bool = False,
          per_design: int = SAMPLES_PER_DESIGN) -> list[Item]:
    """``n`` boards of ``role`` (train, eval or dev) with base ``seed`` (0..999)."""
    if role not in BASE:
        raise ValueError(f"role: expected one of {', '.join(BASE)}, got {role!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed: expected 0..{MAX_SEED}, got {seed}")
    if not 0 < n <= 100_000:
        raise ValueError(f"boards: expected 1..100000, got {n}")
    base = BASE[role] + 1000 * seed
    return [Item(None if gerber else base + k // per_design, base + 500_000 + k)
            for k in range(n)]


def seed_range(role: str, seed: int) -> tuple[int, int]:
    """The [first, last) seeds a role's set with base ``seed`` can use."""
    base = BASE[role] + 1000 * seed
    return base, base + 600_000


def training_defects(item: Item) -> list[str]:
    """Kinds for a training board: none for one board in five, else two to four."""
    from twin.core.rng import generator
    from twin.models.aoi import gerber

    rng = generator(item.sample, "aoi-train-kinds")
    if rng.random() < 0.2:
        return []
    kinds = gerber.KINDS if item.design is None else board.KINDS
    return [str(k) for k in rng.choice(kinds, size=int(rng.integers(2, 5)), replace=False)]


def build(item: Item, goldens: dict, p_defect: float = 0.5, um_per_px_gerber: float = 25.0,
          defects: list[str] | None = None) -> tuple[board.Board, board.Board]:
    """(golden, sample) of an item; ``goldens`` caches golden boards by design."""
    key = ("gerber", um_per_px_gerber) if item.design is None else item.design
    g = goldens.get(key)
    if g is None:
        if item.design is None:
            from twin.models.aoi import gerber

            g = gerber.golden(um_per_px_gerber)
        else:
            g = board.golden(seed=item.design)
        if len(goldens) > 4:
            goldens.clear()
        goldens[key] = g
    return g, board.sample(g, item.sample, defects=defects, p_defect=p_defect)
