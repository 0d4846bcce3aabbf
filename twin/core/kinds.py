"""The kinds of park entities, as recorded with each entity in the results (one place).

Generators deliver positive ``p_mw``; loads consume positive ``p_mw`` and are what the park's
energy balance, carbon accounts and reports count as consumption.
"""

GENERATORS: tuple[str, ...] = ("pv", "wind")
LOADS: tuple[str, ...] = ("factory", "ev", "heat", "aoi")
