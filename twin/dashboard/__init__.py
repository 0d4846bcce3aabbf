"""The trainers' page: the park twin live in a browser, or a recorded run with a slider.

- :mod:`~twin.dashboard.live`: the twin in its own thread, paced to accelerated real time,
  with pause, speed, a jump to a date and events that reach the simulators through the
  running twin's :class:`twin.events.EventBook`;
- :mod:`~twin.dashboard.replay`: a run file read back for the same page;
- :mod:`~twin.dashboard.frames`: what the page shows of a step, and the carbon counter and
  KPIs so far (computed by :mod:`twin.carbon` and :mod:`twin.kpi`, as for a finished run);
- :mod:`~twin.dashboard.diagram`: the single-line diagram laid out from the pandapower network;
- :mod:`~twin.dashboard.camera`: the AOI line's board images and reject-robot frames;
- :mod:`~twin.dashboard.server`: aiohttp, server-sent events, plotly.js from the installed
  plotly package (nothing from the internet);
- :mod:`~twin.dashboard.cli`: ``twin demo`` and ``twin replay``.
"""
