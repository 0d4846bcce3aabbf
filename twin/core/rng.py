"""Reproducible random numbers: every draw comes from the scenario seed and the entity's name."""

from __future__ import annotations

import hashlib
import math

import numpy as np


def generator(seed: int, name: str) -> np.random.Generator:
    """Return a generator seeded from the scenario ``seed`` and an entity ``name``.

    The same (seed, name) gives the same stream on every machine and Python version
    (the name is hashed with SHA-256, not Python's salted ``hash``).
    """
    digest = hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


class AR1Noise:
    """Stationary AR(1) noise with standard deviation ``sigma`` and correlation time ``tau_s``.

    ``step(dt_s)`` advances by ``dt_s`` seconds with ``phi = exp(-dt_s / tau_s)``, so its
    statistics do not depend on the step. Normal draws are taken from ``rng`` in blocks.
    """

    BLOCK = 1024

    def __init__(self, rng: np.random.Generator, sigma: float, tau_s: float) -> None:
        self._rng = rng
        self.sigma = float(sigma)
        self.tau_s = float(tau_s)
        self._draws: list[float] = []
        self._i = self.BLOCK
        self._coeff: dict[float, tuple[float, float]] = {}
        self.x = self.sigma * self._normal()  # stationary start

    def _block(self) -> list[float]:
        """The normal draws in hand, a new block of them once all are used."""
        if self._i >= len(self._draws):
            self._draws = self._rng.standard_normal(self.BLOCK).tolist()
            self._i = 0
        return self._draws

    def _normal(self) -> float:
        z = self._block()[self._i]
        self._i += 1
        return z

    def _coefficients(self, dt_s: float) -> tuple[float, float]:
        """``(phi, sqrt(1 - phi^2) sigma)`` of a step of ``dt_s``: ``x' = phi x + that z``."""
        coeff = self._coeff.get(dt_s)
        if coeff is None:
            phi = math.exp(-dt_s / self.tau_s)
            coeff = self._coeff[dt_s] = (phi, math.sqrt(1.0 - phi * phi) * self.sigma)
        return coeff

    def advance(self, n_steps: int, dt_s: float) -> None:
        """``n_steps`` steps of ``dt_s`` whose values are not needed: the draws and the
        recurrence of :meth:`step` (its coefficients and blocks of draws), without a call per
        step (tests/test_loads.py checks the two end in the same state)."""
        self._walk(n_steps, dt_s, None)

    def steps(self, n_steps: int, dt_s: float) -> list[float]:
        """The values of ``n_steps`` calls of :meth:`step`, without a call per step."""
        values: list[float] = []
        self._walk(n_steps, dt_s, values)
        return values

    def _walk(self, n_steps: int, dt_s: float, values: list[float] | None) -> None:
        """``n_steps`` steps of :meth:`step`'s recurrence, each value added to ``values``
        (None: none kept)."""
        left = int(n_steps)
        a, b = self._coefficients(dt_s)
        x = self.x
        while left > 0:
            draws = self._block()
            k = min(left, len(draws) - self._i)
            if values is None:
                for z in draws[self._i:self._i + k]:
                    x = a * x + b * z
            else:
                for z in draws[self._i:self._i + k]:
                    x = a * x + b * z
                    values.append(x)
            self._i += k
            left -= k
        self.x = x

    def step(self, dt_s: float) -> float:
        """The noise value after ``dt_s`` more seconds."""
        a, b = self._coefficients(dt_s)
        self.x = a * self.x + b * self._normal()
        return self.x
