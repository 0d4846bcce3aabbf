"""A network planner's studies of the park grid, on a recorded run or a scenario's design cases.

- :mod:`.points`: the operating points studied (every step of a run, the critical steps the
  study selects from them, or a scenario's two design cases) and the network they load;
- :mod:`.contingency`: N-1 screening, every line circuit and transformer out in turn;
- :mod:`.hosting`: how much more PV, wind, storage or EV charging each substation or feeder
  takes before a thermal, voltage or N-1 limit binds (bisection on the fast solver);
- :mod:`.shortcircuit`: IEC 60909 short-circuit levels at the PCC and every substation.

Settings and their sources are in ``twin/data/grid_studies.yaml``.
"""
