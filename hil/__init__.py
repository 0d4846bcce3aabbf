"""Hardware in the loop: bind park entities to real devices and run the park in real time.

- :mod:`twin.scenario.hil`        the scenario's ``hil:`` section (bindings, step, faults, assertions)
- :mod:`hil.points`      point lists (address, type, scale, unit, access, limits) as data
- :mod:`hil.modbus`      Modbus TCP link (pymodbus) and point-list / SunSpec client
- :mod:`hil.devices`     the device interface; real and simulated battery and meter
- :mod:`hil.camera`      the AOI camera (folder or OpenCV capture) behind the same interface
- :mod:`hil.emulator`    stand-in devices on loopback (``twin emulate``)
- :mod:`hil.pacer`       the real-time pacer (absolute deadlines, lateness, overrun policy)
- :mod:`hil.safety`      interlocks and watchdog, outside the controller
- :mod:`hil.faults`      fault injection on the link, on a schedule of simulation times
- :mod:`hil.channel`     one bound entity's loop: safety, exchange, watchdog, takeover
- :mod:`hil.proxy_sim`   the mosaik simulator proxying bound entities
- :mod:`hil.trace`       record and replay of the device traffic
- :mod:`twin.scenario.assertions`  the small language of what a run must show
- :mod:`hil.run`, :mod:`hil.report`, :mod:`twin.apps.cli.hil`   ``twin hil`` and ``twin emulate``
"""
