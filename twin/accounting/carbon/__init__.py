"""Carbon accounting of the park: flows, emissions, national criteria, green matching.

Pure functions on the hourly flows of a run::

    from twin.accounting.carbon import flows_from_run, factors, emissions, national_criteria
    with open_run("park.h5") as run:
        f = flows_from_run(run)
    fac = factors(2023, "northeast")
    em = emissions(f, fac, gec_mwh=0.0)
    criteria = national_criteria(f, em, fac, {"water_reuse": 0.85})
    cfe_scores(f, fac.grid_cfe_share)

Factors and thresholds live in ``twin/data/carbon.yaml`` with their sources.
"""

from twin.accounting.carbon.accounting import PARK, Emissions, Factors, emissions, factors
from twin.accounting.carbon.criteria import INPUT_CRITERIA, Criterion, national_criteria
from twin.accounting.carbon.flows import ParkFlows, flows_from_run, park_flows
from twin.accounting.carbon.matching import (
    CERTIFICATE_DTYPE,
    DirectLine,
    Ledger,
    cfe_scores,
    direct_line,
    gec_count,
    granular_certificates,
    ledger,
)

__all__ = [
    "CERTIFICATE_DTYPE", "INPUT_CRITERIA", "PARK", "Criterion", "DirectLine", "Emissions",
    "Factors", "Ledger", "ParkFlows", "cfe_scores", "direct_line", "emissions", "factors",
    "flows_from_run", "gec_count", "granular_certificates", "ledger", "national_criteria",
    "park_flows",
]
