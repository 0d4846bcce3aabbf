"""Reproducible random numbers: every draw comes from the scenario seed and the entity's name."""

from __future__ import annotations

import hashlib

import numpy as np


def generator(seed: int, name: str) -> np.random.Generator:
    """Return a generator seeded from the scenario ``seed`` and an entity ``name``.

    The same (seed, name) gives the same stream on every machine and Python version
    (the name is hashed with SHA-256, not Python's salted ``hash``).
    """
    digest = hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))
