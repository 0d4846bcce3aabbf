"""Energy management system of the park: forecasts (:mod:`twin.ems.forecast`) and dispatch."""
