"""The trainers' page: the park twin live in a browser, or a recorded run with a slider.

- :mod:`~twin.apps.dashboard.live`: the twin in its own thread, paced to accelerated real time,
  with pause, speed, a jump to a date and events that reach the simulators through the
  running twin's :class:`twin.models.events.EventBook`;
- :mod:`~twin.apps.dashboard.replay`: a run file read back for the same page;
- :mod:`~twin.apps.dashboard.frames`: what the page shows of a step, and the carbon counter and
  KPIs so far (computed by :mod:`twin.accounting.carbon` and :mod:`twin.accounting.kpi`, as for a finished run);
- :mod:`~twin.apps.dashboard.diagram`: the single-line diagram laid out from the pandapower network;
- :mod:`~twin.apps.dashboard.truth`: what each entity really gets in a failure state (tripped
  lines, an island), shed load apart from network losses;
- :mod:`~twin.apps.dashboard.history`: the events with their simulated times and results
  (a grid operator's request asked, offered, delivered, missed), kept beside a run file;
- :mod:`~twin.apps.dashboard.camera`: the AOI line's board images and reject-robot frames;
- :mod:`~twin.apps.dashboard.server`: aiohttp, server-sent events, plotly.js from the installed
  plotly package (nothing from the internet), viewers and the operator;
- ``static/``: the page (app.js; panels.js: EV, AOI findings, the park map, the guided tour;
  i18n.js: Chinese);
- :mod:`~twin.apps.cli.dashboard`: ``twin demo`` and ``twin replay``.
"""
