"""A co-simulation FMU (FMI 2 or 3) in the park: what a scenario says of it, how it is checked,
and how it steps (through fmpy).

The scenario names the ``.fmu`` file, maps the FMU's inputs to attributes of the twin
(``weather.temp_air_c``, ``<entity>.p_mw``) and its outputs to a park quantity::

    fmus:
      - name: hp
        path: heatpump.fmu
        role: load                       # its p_mw enters the park's balance as a load
        inputs: {T_air: weather.temp_air_c}
        outputs:
          - {quantity: p_mw, variable: P_el, unit: kW}
          - {quantity: q_heat_mw, variable: Q_heat, unit: kW}

Each output is converted to the park's unit (``p_mw`` and ``q_heat_mw`` in MW, ``gas_nm3`` in
Nm3 per step); an input is converted from the twin's unit to the FMU's declared one. A unit the
FMU declares must agree with the scenario's (or be convertible), else the scenario is refused.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from twin.core.fields import param
from twin.core.quantities import Quantity

# The park quantities an FMU output can write, and the units each accepts: factor to the park's
# unit, and whether the value is a rate to be multiplied by the step (s) to give the amount.
QUANTITIES = (
    Quantity("p_mw", "MW", "electric power (a generator's output or a load's draw)"),
    Quantity("q_heat_mw", "MW", "heat delivered"),
    Quantity("gas_nm3", "Nm3", "natural gas burnt in the step", "sum"),
)
_POWER = {"W": 1e-6, "kW": 1e-3, "MW": 1.0}
_UNITS: dict[str, dict[str, tuple[float, bool]]] = {
    "p_mw": {u: (f, False) for u, f in _POWER.items()},
    "q_heat_mw": {u: (f, False) for u, f in _POWER.items()},
    "gas_nm3": {"Nm3": (1.0, False), "Nm3/h": (1 / 3600, True), "Nm3/s": (1.0, True)},
}
# Input conversions twin unit -> FMU unit: (gain, offset); the same unit is always accepted.
_INPUT_UNITS: dict[tuple[str, str], tuple[float, float]] = {
    ("degC", "K"): (1.0, 273.15),
    **{(a, b): (_POWER[a] / _POWER[b], 0.0) for a in _POWER for b in _POWER},
    **{(f"{a}/m2", f"{b}/m2"): (_POWER[a] / _POWER[b], 0.0) for a in _POWER for b in _POWER},
}


@dataclass(frozen=True)
class FMUOutput:
    """One FMU output written into a park quantity."""

    quantity: Literal["p_mw", "q_heat_mw", "gas_nm3"] = param(
        doc="park quantity: p_mw (electric power), q_heat_mw (heat), gas_nm3 (gas in the step)")
    variable: str = param(doc="name of the FMU's output variable")
    unit: str = param(doc="unit of the FMU's value: W, kW or MW (power, heat); Nm3 per step, "
                      "Nm3/h or Nm3/s (gas)")


@dataclass(frozen=True)
class FMUSpec:
    """A co-simulation FMU stepped with the park (fmpy)."""

    name: str = param(doc="unique entity name")
    path: Path = param(doc="the .fmu file, relative to the scenario")
    role: Literal["generator", "load", "none"] = param(
        default="load", doc="side of the park's electric balance its p_mw enters "
        "(none: recorded only)")
    inputs: dict[str, str] | None = param(
        default=None, doc="FMU input variable -> twin attribute ('weather.temp_air_c', "
        "'<entity>.p_mw')")
    outputs: tuple[FMUOutput, ...] = param(default=(), doc="FMU outputs -> park quantities")
    generation: Literal["other", "solar", "wind"] = param(
        default="other", doc="what a generator's electricity counts as in the carbon "
        "accounting: on-site solar or wind (renewable, matched and certified like the park's "
        "PV and wind), or other (not renewable: in the balance only)")
    parameters: dict[str, Any] | None = param(
        default=None, doc="FMU parameter -> value, set before initialization")


class FMUError(ValueError):
    """An FMU that cannot be used: the message says why, in one line."""


@dataclass(frozen=True)
class Variable:
    """What the scenario needs of one FMU variable."""

    name: str
    reference: int
    causality: str
    type: str
    unit: str | None


@dataclass(frozen=True)
class Description:
    """What the scenario needs of an FMU's model description."""

    fmi_version: str
    identifier: str
    guid: str
    variables: dict[str, Variable]


def describe(path: Path) -> Description:
    """The FMU's model description; :class:`FMUError` for a file that is not a co-simulation
    FMU of FMI 2 or 3 that fmpy can read."""
    if not zipfile.is_zipfile(path):
        raise FMUError(f"{path.name} is not an FMU (not a zip archive with a modelDescription.xml)")
    import fmpy  # only where a scenario has FMUs

    try:
        md = fmpy.read_model_description(str(path), validate=False)
    except Exception as exc:  # noqa: BLE001 - fmpy raises bare Exceptions for broken files
        raise FMUError(f"{path.name} is not a readable FMU: {' '.join(str(exc).split())}") from None
    if md.fmiVersion not in ("2.0", "3.0"):
        raise FMUError(f"{path.name} is an FMI {md.fmiVersion} FMU; expected FMI 2.0 or 3.0")
    if md.coSimulation is None:
        raise FMUError(f"{path.name} is not a co-simulation FMU (model exchange only); expected "
                       "an FMU exported for co-simulation")
    units = {t.name: t.unit for t in md.typeDefinitions}
    variables = {v.name: Variable(v.name, v.valueReference, v.causality, v.type,
                                  v.unit or (units.get(v.declaredType.name)
                                             if v.declaredType else None))
                 for v in md.modelVariables}
    return Description(md.fmiVersion, md.coSimulation.modelIdentifier, md.guid, variables)


def check(spec: FMUSpec, path: Path, sources: Mapping[str, str]) -> list[tuple[str, str]]:
    """(field path below the FMU's entry, message) of each mistake of ``spec`` against the FMU
    at ``path``; ``sources`` maps each twin attribute an input may read to its unit."""
    if not path.is_file():
        return [("path", f"no such file: {path}")]
    try:
        d = describe(path)
    except FMUError as exc:
        return [("path", str(exc))]
    errors = [*_check_inputs(spec, d, path, sources), *_check_outputs(spec, d, path)]
    quantities = [o.quantity for o in spec.outputs]
    if spec.generation != "other" and spec.role != "generator":
        errors.append(("generation", f"{spec.generation}: only a generator's electricity "
                       f"counts as renewable; this FMU's role is {spec.role}"))
    for i, q in enumerate(quantities):
        if q in quantities[:i]:
            errors.append((f"outputs[{i}].quantity", f"{q} is written twice"))
    for key in spec.parameters or {}:
        v = d.variables.get(key)
        if v is None or v.causality != "parameter":
            errors.append((f"parameters.{key}", f"{path.name} has no parameter {key!r}; its "
                           f"parameters: {_names(d, 'parameter')}"))
    return errors


_REAL = ("Real", "Float64", "Float32")


def _check_inputs(spec: FMUSpec, d: Description, path: Path,
                  sources: Mapping[str, str]) -> list[tuple[str, str]]:
    errors = []
    for var, source in (spec.inputs or {}).items():
        v = d.variables.get(var)
        if v is None or v.causality != "input" or v.type not in _REAL:
            errors.append((f"inputs.{var}", f"{path.name} has no real input {var!r}; its inputs: "
                           f"{_names(d, 'input')}"))
        elif source not in sources:
            errors.append((f"inputs.{var}", f"expected a twin attribute such as "
                           f"weather.temp_air_c or <entity>.p_mw, got {source!r}"))
        elif v.unit and v.unit != sources[source] and (sources[source], v.unit) not in _INPUT_UNITS:
            errors.append((f"inputs.{var}", f"unit mismatch: {var} is in {v.unit}, {source} in "
                           f"{sources[source]}"))
    return errors


def _check_outputs(spec: FMUSpec, d: Description, path: Path) -> list[tuple[str, str]]:
    errors = []
    for i, out in enumerate(spec.outputs):
        v = d.variables.get(out.variable)
        if v is None or v.causality != "output" or v.type not in _REAL:
            errors.append((f"outputs[{i}].variable", f"{path.name} has no real output "
                           f"{out.variable!r}; its outputs: {_names(d, 'output')}"))
        elif out.unit not in _UNITS[out.quantity]:
            errors.append((f"outputs[{i}].unit", f"expected one of "
                           f"{', '.join(_UNITS[out.quantity])} for {out.quantity}, got {out.unit!r}"))
        elif v.unit and v.unit != out.unit:
            errors.append((f"outputs[{i}].unit", f"unit mismatch: {path.name} declares "
                           f"{out.variable} in {v.unit}, the scenario says {out.unit}"))
    return errors


def _names(d: Description, causality: str) -> str:
    return ", ".join(sorted(v.name for v in d.variables.values()
                            if v.causality == causality)) or "none"


class FMUModel:
    """One FMU instance stepped at the park's step: inputs in the twin's units, outputs in the
    park's (MW, Nm3 per step)."""

    def __init__(self, spec: FMUSpec, start_s: float, step_s: float,
                 input_units: Mapping[str, str]) -> None:
        import fmpy
        from fmpy.fmi2 import FMU2Slave
        from fmpy.fmi3 import FMU3Slave

        self.d = describe(Path(spec.path))
        self.step_s = float(step_s)
        self.time = float(start_s)
        self._dir = fmpy.extract(str(spec.path))
        v = self.d.variables
        self._fmi3 = self.d.fmi_version == "3.0"
        cls = FMU3Slave if self._fmi3 else FMU2Slave
        self.fmu = cls(guid=self.d.guid, unzipDirectory=self._dir,
                       modelIdentifier=self.d.identifier, instanceName=spec.name)
        self.fmu.instantiate()
        if not self._fmi3:
            self.fmu.setupExperiment(startTime=self.time)
        for key, value in (spec.parameters or {}).items():
            self._set([v[key].reference], [float(value)])
        if self._fmi3:
            self.fmu.enterInitializationMode(startTime=self.time)
        else:
            self.fmu.enterInitializationMode()
        self.fmu.exitInitializationMode()
        # input attribute -> (value reference, gain, offset)
        self.inputs = {var: (v[var].reference, *_input_gain(input_units[var], v[var].unit))
                       for var in (spec.inputs or {})}
        self.outputs = {o.quantity: (v[o.variable].reference, *_UNITS[o.quantity][o.unit])
                        for o in spec.outputs}

    def _set(self, refs: list[int], values: list[float]) -> None:
        (self.fmu.setFloat64 if self._fmi3 else self.fmu.setReal)(refs, values)

    def _get(self, refs: list[int]) -> list[float]:
        return list((self.fmu.getFloat64 if self._fmi3 else self.fmu.getReal)(refs))

    def step(self, inputs: Mapping[str, float]) -> dict[str, float]:
        """Set ``inputs`` (FMU variable -> value in the twin's unit), advance one park step,
        return each park quantity written by the FMU."""
        refs, values = [], []
        for var, value in inputs.items():
            ref, gain, offset = self.inputs[var]
            refs.append(ref)
            values.append(float(value) * gain + offset)
        if refs:
            self._set(refs, values)
        self.fmu.doStep(self.time, self.step_s)
        self.time += self.step_s
        raw = self._get([ref for ref, _, _ in self.outputs.values()])
        return {q: x * factor * (self.step_s if rate else 1.0)
                for (q, (_, factor, rate)), x in zip(self.outputs.items(), raw, strict=True)}

    def close(self) -> None:
        """Terminate and free the instance, remove its extracted files."""
        import shutil

        self.fmu.terminate()
        self.fmu.freeInstance()
        shutil.rmtree(self._dir, ignore_errors=True)


def _input_gain(twin_unit: str, fmu_unit: str | None) -> tuple[float, float]:
    if not fmu_unit or fmu_unit == twin_unit:
        return 1.0, 0.0
    return _INPUT_UNITS[(twin_unit, fmu_unit)]
