"""Study files: a base scenario, the parameters to vary, the KPIs to collect -> typed cases.

A study is one YAML file, validated before anything runs like a scenario (one-line errors
``file:line: path: message``)::

    name: sizing-2027
    base: ../scenarios/park.yaml          # relative to the study file
    fixed: {grid: null}                   # applied to every case
    parameters:                           # path into the scenario: values
      wind_farms[*].n_turbines: {from: 0.5, to: 1.5, step: 0.25, scale: true}
      pv_plants[*].p_dc_mwp: {values: [1, 2], scale: true, also: [pv_plants[*].p_ac_mw]}
      batteries[0].e_max_mwh: [200, 400, 800]
      park.seed: [2027, 2028]             # weather years
      economics.discount_rate: {sample: 4, low: 0.04, high: 0.08, seed: 1}
    kpis: [criterion_clean_energy_share, e_import_mwh]
    options: {days: 30, keep_runs: false, output: results/sizing.parquet}

A parameter's values are a list, a range ``{from, to, step}`` or uniform samples
``{sample: N, low, high, seed, integer}``; ``scale: true`` multiplies the base scenario's
value (every element for ``[*]``; integers are rounded) and ``also`` applies the same value to
more paths. Cases are the product of the parameters (or ``options.combine: zip``). A case's
scenario is rebuilt from the base YAML with its values and validated again, so a bad value
is a case that fails, not a study that stops. Its id is a hash of what defines its run.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from twin import scenario as scenario_mod
from twin.core.fields import param
from twin.core.rng import generator
from twin.core.specload import SpecError, build
from twin.data import YAML_LOADER
from twin.scenario import Scenario, ScenarioError

# the study table's status values and the columns the analysis reads
OK, INVALID, FAILED = "ok", "invalid", "failed"
COST = "cost_annual_cny"
CLEAN = "criterion_clean_energy_share"
CORE = "criterion_core_carbon_intensity"
CAPACITIES = ("wind_mw", "pv_mwp", "storage_mw", "storage_mwh")
SEED_PATH = "park.seed"
#: the scenario's sections of sized assets: the weather, the loads and the AOI lines of a
#: rule-run park never read them (cases that differ only here share those simulators' blocks)
ASSETS = ("wind_farms", "pv_plants", "batteries")
COMPUTED_CRITERIA = ("core_carbon_intensity", "clean_energy_share", "direct_line_share",
                     "net_annual_balance")
DEFAULT_KPIS = ("criterion_core_carbon_intensity", "criterion_clean_energy_share",
                "criterion_direct_line_share", "criterion_net_annual_balance", "e_wind_mwh",
                "e_pv_mwh", "e_load_mwh", "e_import_mwh", "e_export_mwh", "self_sufficiency",
                "cfe_hourly", "co2_scope1_t", "co2_scope2_location_t", "energy_cost_cny",
                "capex_cny", "opex_cny_per_year", "lcoe_local_cny_per_mwh")
MAX_CASES = 100_000
_TOKEN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*)((?:\[(?:\d+|\*)\])*)")
_INDEX_RE = re.compile(r"\[(\d+|\*)\]")

Token = str | int  # a field or key name, or a list index


class StudyError(ValueError):
    """A user's mistake in a study file: one line naming the file, line and field path."""


@dataclass(frozen=True)
class Options:
    """How a study runs and where its results go."""

    days: float | None = param("d", gt=0, default=None,
                               doc="shorten every run to its first N days (None: the base period)")
    keep_runs: bool = param(default=False, doc="keep each case's HDF5 file beside the table")
    output: Path | None = param(default=None, doc="the table, .parquet or .csv (default: "
                                "results/<name>.parquet), relative to the working folder")
    combine: Literal["product", "zip"] = param(
        default="product", doc="cases: every combination of the values, or the i-th of each")


@dataclass(frozen=True)
class _ValuesSpec:
    """The mapping form of a parameter's values (``from`` is read as ``start``)."""

    values: tuple[Any, ...] | None = param(default=None, doc="explicit values")
    start: float | None = param(default=None, doc="first value of a range")
    to: float | None = param(default=None, doc="last value of a range (included)")
    step: float | None = param(gt=0, default=None, doc="step of a range")
    sample: int | None = param(ge=1, default=None, doc="number of uniform samples")
    low: float | None = param(default=None, doc="lowest sample")
    high: float | None = param(default=None, doc="highest sample")
    seed: int = param(ge=0, default=0, doc="seed of the samples")
    integer: bool = param(default=False, doc="round samples to integers")
    scale: bool = param(default=False, doc="values multiply the base scenario's value")
    also: tuple[str, ...] = param(default=(), doc="more paths that take the same value")


@dataclass(frozen=True)
class Parameter:
    """One varied parameter: its path(s), its values, and whether they scale the base value."""

    path: str
    values: tuple[Any, ...]
    scale: bool = False
    also: tuple[str, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path the value goes to."""
        return (self.path, *self.also)


@dataclass(frozen=True)
class Case:
    """One scenario of a study: its parameter values and the concrete fields they set."""

    case_id: str
    params: dict[str, Any]
    assignments: tuple[tuple[tuple[Token, ...], Any], ...]  # (field tokens, value)
    shared: str = ""  # equal for the cases whose scenarios differ only in :data:`ASSETS`


@dataclass(frozen=True)
class Job:
    """What a worker needs to build any case's scenario (small, picklable)."""

    data: dict[str, Any]  # the base scenario's YAML data with the fixed values applied
    base_path: str
    days: float | None
    runs_dir: str | None  # keep each run's HDF5 here (None: a temporary folder)


@dataclass(frozen=True)
class Study:
    """A validated study."""

    name: str
    path: Path
    base_path: Path
    base: Scenario  # the base scenario with the fixed values, validated
    data: dict[str, Any] = field(repr=False)
    fixed: dict[str, Any]
    parameters: tuple[Parameter, ...]
    kpis: tuple[str, ...]
    criteria: tuple[str, ...]
    options: Options
    description: str = ""

    @property
    def output(self) -> Path:
        """Path of the table."""
        return self.options.output or Path("results") / f"{self.name}.parquet"

    @property
    def fingerprint(self) -> str:
        """Hash of what every case shares: base scenario data, fixed values, days."""
        return _hash({"base": self.data, "days": self.options.days})

    def cases(self) -> list[Case]:
        """Every case of the study, in a stable order."""
        combos = (zip(*(p.values for p in self.parameters), strict=True)
                  if self.options.combine == "zip"
                  else itertools.product(*(p.values for p in self.parameters)))
        return [self.case(dict(zip((p.path for p in self.parameters), values, strict=True)))
                for values in combos]

    def case(self, params: dict[str, Any]) -> Case:
        """The case of given parameter values (paths of :attr:`parameters` -> values)."""
        assignments = []
        for p in self.parameters:
            for path in p.paths:
                assignments.extend(_assign(self.base, path, params[p.path], p.scale))
        others = {p.path: params[p.path] for p in self.parameters
                  if any(parse_path(path)[0] not in ASSETS for path in p.paths)}
        return Case(case_id=_hash({"study": self.fingerprint, "params": params})[:12],
                    params=params, assignments=tuple(assignments),
                    shared=_hash({"study": self.fingerprint, "params": others})[:12])

    def job(self, runs_dir: Path | None = None) -> Job:
        """What the workers need, with runs kept in ``runs_dir`` if given."""
        return Job(data=self.data, base_path=str(self.base_path), days=self.options.days,
                   runs_dir=str(runs_dir.resolve()) if runs_dir is not None else None)


# --- loading -------------------------------------------------------------------------------


def load(path: str | Path) -> Study:
    """Read and validate a study file. Raises :class:`StudyError`."""
    path = Path(path)
    return loads(scenario_mod.read_file(path, "study", StudyError), path)


def loads(text: str, path: str | Path = "<memory>") -> Study:
    """Parse and validate study ``text``; ``path`` names it and anchors the base scenario."""
    path = Path(path)
    try:
        raw, where = scenario_mod.read_yaml(text, path)
    except ScenarioError as exc:
        raise StudyError(str(exc)) from None
    try:
        return _study(raw, path)
    except SpecError as exc:
        raise StudyError(f"{where(exc.path)}: {exc}") from None


_TOP = ("name", "description", "base", "fixed", "parameters", "kpis", "criteria", "options")


def _study(raw: Any, path: Path) -> Study:
    if not isinstance(raw, dict):
        raise SpecError("", "expected a mapping with base, parameters, kpis, options")
    for key in raw:
        if key not in _TOP:
            raise SpecError(str(key), f"unknown key; expected one of {', '.join(_TOP)}")
    if "base" not in raw:
        raise SpecError("base", "missing; expected the base scenario file")
    if not isinstance(raw["base"], str):
        raise SpecError("base", f"expected a file path, got {raw['base']!r}")
    base_path = Path(raw["base"])
    base_path = Path(os.path.normpath(base_path if base_path.is_absolute()
                                      else path.parent / base_path))
    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise SpecError("fixed", "expected a mapping of scenario paths to values")
    data, base = _base(base_path, fixed)
    options = build(Options, raw.get("options") or {}, "options")
    parameters = _parameters(raw.get("parameters"), base, options)
    kpis = _names(raw.get("kpis", list(DEFAULT_KPIS)), "kpis", None)
    criteria = _names(raw.get("criteria", list(COMPUTED_CRITERIA)), "criteria",
                      COMPUTED_CRITERIA)
    study = Study(name=str(raw.get("name") or path.stem), path=path, base_path=base_path,
                  base=base, data=data, fixed=fixed, parameters=parameters, kpis=kpis,
                  criteria=criteria, options=options,
                  description=str(raw.get("description") or ""))
    n = math.prod(len(p.values) for p in parameters)
    if options.combine == "product" and n > MAX_CASES:
        raise SpecError("parameters", f"{n:,} cases; expected at most {MAX_CASES:,}")
    if options.days is not None and any("period.duration" in p.paths for p in parameters):
        raise SpecError("options.days", "a study that varies period.duration cannot set days")
    return study


def _base(base_path: Path, fixed: dict[str, Any]) -> tuple[dict[str, Any], Scenario]:
    """The base scenario's data with the fixed values applied, and its validated scenario."""
    try:
        base = scenario_mod.load(base_path)
    except ScenarioError as exc:
        raise SpecError("base", f"the base scenario is not valid: {_first(exc)}") from None
    data = yaml.load(base.text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader
    for key, value in fixed.items():
        _resolve(base, str(key), f"fixed.{key}")  # a path the base scenario has
        for tokens, _ in _walk(base, parse_path(str(key)), [], f"fixed.{key}"):
            _set(data, tokens, value)
    try:
        return data, scenario_mod.loads(dump(data), base_path)
    except ScenarioError as exc:
        raise SpecError("fixed", f"the fixed values make the base invalid: "
                        f"{strip_location(_first(exc), base_path)}") from None


def _first(exc: Exception) -> str:
    """The first line of a scenario's errors, with how many more there are: a study's error
    stays one line."""
    first, *rest = str(exc).splitlines() or [""]
    return first + (f" (and {len(rest)} more errors)" if rest else "")


def _names(value: Any, where: str, choices: tuple[str, ...] | None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(where, f"expected a list of names, got {value!r}")
    for i, v in enumerate(value):
        if choices is not None and v not in choices:
            raise SpecError(f"{where}[{i}]", f"expected one of {', '.join(choices)}, got {v!r}")
    return tuple(dict.fromkeys(value))


def _parameters(raw: Any, base: Scenario, options: Options) -> tuple[Parameter, ...]:
    if not isinstance(raw, dict) or not raw:
        raise SpecError("parameters", "expected a mapping of scenario paths to their values")
    out = []
    for key, spec in raw.items():
        where = f"parameters.{key}"
        p = _parameter(str(key), spec, where)
        for path in p.paths:
            _, current = _resolve(base, path, where)
            if p.scale and not all(_is_number(v) for v in current):
                raise SpecError(where, f"scale: {path} is not a number in the base scenario")
        out.append(p)
    if options.combine == "zip" and len({len(p.values) for p in out}) > 1:
        raise SpecError("options.combine", "zip needs the same number of values for every "
                        f"parameter, got {[len(p.values) for p in out]}")
    return tuple(out)


def _parameter(path: str, spec: Any, where: str) -> Parameter:
    if isinstance(spec, list):
        if not spec:
            raise SpecError(where, "expected at least one value")
        return Parameter(path, tuple(spec))
    if not isinstance(spec, dict):
        raise SpecError(where, "expected a list, {from, to, step} or {sample, low, high}, "
                        f"got {spec!r}")
    renamed = {("start" if k == "from" else k): v for k, v in spec.items()}
    try:
        v = build(_ValuesSpec, renamed, where)
    except SpecError as exc:
        fixed_path = exc.path.replace(".start", ".from")
        raise SpecError(fixed_path, exc.message.replace("start", "from")) from None
    kinds = [k for k, on in (("values", v.values is not None), ("from", v.start is not None),
                             ("sample", v.sample is not None)) if on]
    if len(kinds) != 1:
        raise SpecError(where, "expected exactly one of values, from (with to and step) or "
                        f"sample (with low and high), got {kinds or 'none'}")
    if v.values is not None:
        values = v.values
    elif v.start is not None:
        values = _range(v, where)
    else:
        values = _samples(v, path, where)
    if not values:
        raise SpecError(where, "expected at least one value")
    return Parameter(path, tuple(values), v.scale, v.also)


def _range(v: _ValuesSpec, where: str) -> tuple[Any, ...]:
    if v.to is None or v.step is None:
        raise SpecError(where, "a range needs from, to and step")
    if v.to < v.start:
        raise SpecError(f"{where}.to", f"expected >= from ({v.start:g}), got {v.to:g}")
    n = int(math.floor((v.to - v.start) / v.step + 1e-9)) + 1
    if n > MAX_CASES:
        raise SpecError(where, f"{n:,} values; expected at most {MAX_CASES:,}")
    ints = all(float(x).is_integer() for x in (v.start, v.to, v.step))
    return tuple(int(round(v.start + i * v.step)) if ints else round(v.start + i * v.step, 9)
                 for i in range(n))


def _samples(v: _ValuesSpec, path: str, where: str) -> tuple[Any, ...]:
    if v.low is None or v.high is None or v.high < v.low:
        raise SpecError(where, "samples need low and high, with high >= low")
    draws = generator(v.seed, f"study:{path}").uniform(v.low, v.high, int(v.sample or 0))
    return tuple(int(round(x)) if v.integer else round(float(x), 6) for x in draws)


def with_days(study: Study, days: float) -> Study:
    """The same study with every run shortened to ``days`` days."""
    if not days > 0:
        raise StudyError(f"--days {days:g}: expected a positive number of days")
    if any("period.duration" in p.paths for p in study.parameters):
        raise StudyError(f"{study.path}: parameters: the study varies period.duration; "
                         "--days cannot shorten it")
    return dataclasses.replace(study, options=dataclasses.replace(study.options, days=days))


def with_criteria(study: Study, criteria: str) -> Study:
    """The same study requiring the comma-separated ``criteria`` (same cases, other answer)."""
    keys = tuple(k.strip() for k in criteria.split(",") if k.strip())
    unknown = [k for k in keys if k not in COMPUTED_CRITERIA]
    if unknown or not keys:
        raise StudyError(f"--criteria {criteria}: expected names among "
                         f"{', '.join(COMPUTED_CRITERIA)}")
    return dataclasses.replace(study, criteria=keys)


# --- paths into a scenario --------------------------------------------------------------------


def parse_path(path: str) -> list[Token]:
    """``wind_farms[0].n_turbines`` -> ``['wind_farms', 0, 'n_turbines']`` (``'*'`` kept)."""
    tokens: list[Token] = []
    for part in path.split("."):
        match = _TOKEN_RE.fullmatch(part)
        if not match:
            raise ValueError(f"expected a path like wind_farms[0].n_turbines, got {path!r}")
        tokens.append(match.group(1))
        tokens.extend(int(i) if i != "*" else "*" for i in _INDEX_RE.findall(match.group(2)))
    return tokens


def _resolve(base: Scenario, path: str, where: str) -> tuple[list[Token], list[Any]]:
    """Check ``path`` against the typed base scenario; return its tokens and current values."""
    try:
        tokens = parse_path(path)
    except ValueError as exc:
        raise SpecError(where, str(exc)) from None
    return tokens, [value for _, value in _walk(base, tokens, [], where)]


def _walk(node: Any, tokens: list[Token], done: list[Token],
          where: str) -> list[tuple[list[Token], Any]]:
    """Every (concrete tokens, typed value) the tokens reach from ``node``."""
    if not tokens:
        return [(done, node)]
    tok, rest = tokens[0], tokens[1:]
    here = "".join(f"[{t}]" if isinstance(t, int) else f".{t}" for t in done).lstrip(".")
    if tok == "*" or isinstance(tok, int):
        if not isinstance(node, tuple | list):
            raise SpecError(where, f"{here} is not a list")
        if tok == "*":
            return [hit for i, item in enumerate(node)
                    for hit in _walk(item, rest, [*done, i], where)]
        if tok >= len(node):
            raise SpecError(where, f"the base scenario has {len(node)} {here}, no [{tok}]")
        return _walk(node[tok], rest, [*done, tok], where)
    if isinstance(node, dict):
        return _walk(node.get(tok), rest, [*done, tok], where)
    if dataclasses.is_dataclass(node):
        names = [f.name for f in dataclasses.fields(node)
                 if f.init and not f.metadata.get("internal")]
        if tok not in names:
            raise SpecError(where, f"{type(node).__name__} has no field {tok!r}; expected one "
                            f"of {', '.join(names)}")
        return _walk(getattr(node, tok), rest, [*done, tok], where)
    if node is None and rest:
        raise SpecError(where, f"the base scenario has no {here or tok} section")
    raise SpecError(where, f"{here} is a value, it has no field {tok!r}")


def _assign(base: Scenario, path: str, value: Any,
            scale: bool) -> list[tuple[tuple[Token, ...], Any]]:
    hits = _walk(base, parse_path(path), [], path)
    if not scale:
        return [(tuple(tokens), value) for tokens, _ in hits]
    out = []
    for tokens, current in hits:
        scaled = current * value
        out.append((tuple(tokens), int(round(scaled)) if isinstance(current, int)
                    else round(float(scaled), 9)))
    return out


def _set(data: dict[str, Any], tokens: list[Token] | tuple[Token, ...], value: Any) -> None:
    """Set ``value`` at ``tokens`` in YAML data, making missing mappings on the way."""
    node: Any = data
    for tok, nxt in itertools.pairwise(tokens):
        if isinstance(node, dict) and node.get(tok) is None:
            node[tok] = [] if isinstance(nxt, int) else {}
        node = node[tok]
    node[tokens[-1]] = value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- cases -> scenarios (in the workers) -----------------------------------------------------


def dump(data: dict[str, Any]) -> str:
    """YAML text of scenario data."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def strip_location(message: str, path: str | Path) -> str:
    """A scenario error without its ``file:line:`` prefix (the file is a generated one)."""
    return re.sub(rf"^{re.escape(str(path))}(:\d+)?: ", "", message)


def case_scenario(job: Job, case: Case) -> Scenario:
    """The case's scenario, rebuilt from the base data and validated.

    Raises :class:`ScenarioError` with the field and what was expected for a bad value.
    """
    data = copy.deepcopy(job.data)
    for tokens, value in case.assignments:
        _set(data, tokens, value)
    try:
        s = scenario_mod.loads(dump(data), job.base_path)
        if job.days is not None:
            s = s.with_days(job.days)
    except ScenarioError as exc:
        raise ScenarioError(strip_location(str(exc), job.base_path)) from None
    return dataclasses.replace(s, output=dataclasses.replace(s.output, name=case.case_id))


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()

