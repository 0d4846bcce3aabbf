"""The road to acceptance: the cheapest portfolio of measures meeting the national criteria,
found by a capacity-expansion LP (:mod:`.lp`) on profiles of one co-simulation
(:mod:`.profiles`), proven by co-simulating it (:mod:`.prove`), reported (:mod:`.report`)."""
