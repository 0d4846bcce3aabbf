"""mosaik API v3 simulators: thin adapters over the pure models in ``twin``."""
