"""The kinds of park entities, as recorded with each entity in the results (one place).

Generators deliver positive ``p_mw``; loads consume positive ``p_mw`` and are what the park's
energy balance, carbon accounts and reports count as consumption.
"""

GENERATORS: tuple[str, ...] = ("pv", "wind")
LOADS: tuple[str, ...] = ("factory", "ev", "heat", "aoi")
# the scenario's entity lists and the kind their entities are recorded with
KIND_OF_LIST: dict[str, str] = {
    "pv_plants": "pv", "wind_farms": "wind", "factory_loads": "factory", "ev_hubs": "ev",
    "heat_supply": "heat", "batteries": "battery", "aoi_lines": "aoi"}
