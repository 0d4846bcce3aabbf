"""FMUs in a scenario: a co-simulation FMU built here (pythonfmu) reads the twin's weather and
writes its power, heat and gas into the park's balance (fmpy steps it); `twin check` refuses an
FMU that cannot be used, one line each."""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pythonfmu = pytest.importorskip("pythonfmu")
pytest.importorskip("fmpy")

from twin import runner, scenario  # noqa: E402
from twin.apps.cli import main  # noqa: E402
from twin.core.results import open_run  # noqa: E402

# A heat pump below 18 degC: Q = UA * (291.15 K - T_air) kW, P_el = Q / COP, and a gas
# back-up burning GAS * Q Nm3/h; the air temperature in kelvin, power in kW.
HEAT_PUMP = '''
from pythonfmu import Fmi2Causality, Fmi2Slave, Fmi2Variability, Real


class HeatPump(Fmi2Slave):
    author = "tests"
    description = "heat pump driven by the air temperature"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.T_air = 293.15
        self.UA = 100.0
        self.COP = 3.0
        self.GAS = 0.01
        self.Q_heat = self.P_el = self.gas_rate = 0.0
        self.register_variable(Real("T_air", causality=Fmi2Causality.input))
        for name in ("UA", "COP", "GAS"):
            self.register_variable(Real(name, causality=Fmi2Causality.parameter,
                                        variability=Fmi2Variability.tunable))
        for name in ("Q_heat", "P_el", "gas_rate"):
            self.register_variable(Real(name, causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        self.Q_heat = max(0.0, self.UA * (291.15 - self.T_air))
        self.P_el = self.Q_heat / self.COP
        self.gas_rate = self.GAS * self.Q_heat
        return True
'''
UNITS = {"T_air": "K", "Q_heat": "kW", "P_el": "kW"}  # declared in the model description

BASE = """park: {name: fmu park, latitude: 41.8, longitude: 123.4, timezone: Asia/Shanghai, seed: 3}
period: {start: 2027-01-01 00:00, duration: 1d, step: 1h}
pv_plants:
  - {name: pv, p_dc_mwp: 2, p_ac_mw: 1.6}
"""
FMU = """fmus:
  - name: hp
    path: HeatPump.fmu
    role: load
    inputs: {T_air: weather.temp_air_c}
    parameters: {UA: 250.0, COP: 2.5}
    outputs:
      - {quantity: p_mw, variable: P_el, unit: kW}
      - {quantity: q_heat_mw, variable: Q_heat, unit: kW}
      - {quantity: gas_nm3, variable: gas_rate, unit: Nm3/h}
"""


@pytest.fixture(scope="module")
def fmu(tmp_path_factory) -> Path:
    """The heat pump FMU, built once, with units declared for three of its variables."""
    folder = tmp_path_factory.mktemp("fmu")
    (folder / "heatpump.py").write_text(HEAT_PUMP)
    from pythonfmu.builder import FmuBuilder

    built = Path(FmuBuilder.build_FMU(folder / "heatpump.py", dest=folder / "out"))
    with zipfile.ZipFile(built) as z:
        files = {n: z.read(n) for n in z.namelist()}
    xml = files["modelDescription.xml"].decode()
    for name, unit in UNITS.items():
        xml, n = re.subn(rf'(<ScalarVariable name="{name}"[^>]*>\s*<Real)', rf'\1 unit="{unit}"',
                         xml)
        assert n == 1, name
    files["modelDescription.xml"] = xml.encode()
    with zipfile.ZipFile(folder / "HeatPump.fmu", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return folder / "HeatPump.fmu"


def _scenario(tmp_path: Path, fmu: Path, text: str = FMU) -> Path:
    (tmp_path / "HeatPump.fmu").write_bytes(fmu.read_bytes())
    path = tmp_path / "park.yaml"
    path.write_text(BASE + text)
    return path


def test_fmu_writes_power_heat_and_gas_into_the_balance(tmp_path, fmu):
    s = scenario.load(_scenario(tmp_path, fmu))
    result = runner.run(s, out_dir=tmp_path)
    with open_run(result.path) as run:
        t_air = run.series("weather", "temp_air_c")
        q_kw = np.maximum(0.0, 250.0 * (291.15 - (t_air + 273.15)))  # the closed form
        assert q_kw.min() > 0  # January in Shenyang: the heat pump runs every hour
        np.testing.assert_allclose(run.series("hp", "q_heat_mw"), q_kw / 1e3, rtol=1e-12)
        np.testing.assert_allclose(run.series("hp", "p_mw"), q_kw / 2.5 / 1e3, rtol=1e-12)
        # the default GAS of 0.01 Nm3/h per kW over a step of one hour
        np.testing.assert_allclose(run.series("hp", "gas_nm3"), 0.01 * q_kw, rtol=1e-12)
        # the balance takes the FMU's power as a load, exactly
        np.testing.assert_array_equal(run.series("pcc", "p_load_mw"), run.series("hp", "p_mw"))
        np.testing.assert_allclose(run.series("pcc", "p_net_mw"),
                                   run.series("hp", "p_mw") - run.series("pv", "p_mw"),
                                   rtol=1e-12, atol=1e-12)
        _accounted(run, q_kw)


def _residual(f) -> np.ndarray:
    """Each hour's PCC balance of the accounting's flows (0 where it closes)."""
    return (f.onsite_generation_mwh + f.import_mwh + f.storage_discharge_mwh
            - f.load_total_mwh - f.grid_loss_mwh - f.storage_charge_mwh - f.export_mwh)


def _accounted(run, q_kw: np.ndarray) -> None:
    """The carbon accounting and the KPIs count the heat pump FMU's electricity as a load,
    its gas as gas burnt in the park and its heat as heat delivered (hourly steps)."""
    from twin.accounting.carbon import emissions, factors, flows_from_run
    from twin.accounting.kpi import park_kpis

    f = flows_from_run(run)
    np.testing.assert_allclose(f.load_mwh["hp"], q_kw / 2.5 / 1e3, rtol=1e-12)
    np.testing.assert_allclose(f.gas_nm3["hp"], 0.01 * q_kw, rtol=1e-12)
    np.testing.assert_allclose(f.heat_mwh["hp"], q_kw / 1e3, rtol=1e-12)
    assert f.kind["hp"] == "fmu"
    assert "hp" not in f.generation_mwh
    assert np.abs(_residual(f)).max() < 1e-9
    assert abs(park_kpis(run)["balance_residual_mwh"].value) < 1e-9
    em = emissions(f, factors())  # the FMU's gas is scope 1 at the gas factor
    assert em.scope1_total_t == pytest.approx(0.01 * q_kw.sum() * factors().gas_t_per_nm3,
                                              rel=1e-9)


PV3 = '''
from pythonfmu3 import Fmi3Causality, Fmi3Slave, Fmi3Variability, Float64


class PV3(Fmi3Slave):
    author = "tests"
    description = "PV plant of FMI 3: P = k * ghi"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.time = self.ghi = self.P = 0.0
        self.k = 10.0
        self.register_variable(Float64("time", causality=Fmi3Causality.independent,
                                       variability=Fmi3Variability.continuous))
        self.register_variable(Float64("ghi", causality=Fmi3Causality.input, start=0.0))
        self.register_variable(Float64("k", causality=Fmi3Causality.parameter,
                                       variability=Fmi3Variability.tunable, start=10.0))
        self.register_variable(Float64("P", causality=Fmi3Causality.output))

    def do_step(self, current_time, step_size):
        self.P = self.k * self.ghi
        return True
'''


def test_an_fmi3_fmu_generates_into_the_balance(tmp_path):
    pytest.importorskip("pythonfmu3")
    from pythonfmu3.builder import FmuBuilder

    (tmp_path / "pv3.py").write_text(PV3)
    FmuBuilder.build_FMU(tmp_path / "pv3.py", dest=tmp_path)
    path = tmp_path / "park.yaml"
    path.write_text(BASE + """fmus:
  - name: roof
    path: PV3.fmu
    role: generator
    inputs: {ghi: weather.ghi_w_m2}
    parameters: {k: 2.0}
    generation: solar
    outputs: [{quantity: p_mw, variable: P, unit: W}]
""")
    result = runner.run(scenario.load(path), out_dir=tmp_path)
    with open_run(result.path) as run:
        ghi = run.series("weather", "ghi_w_m2")
        assert ghi.max() > 100
        np.testing.assert_allclose(run.series("roof", "p_mw"), 2.0 * ghi / 1e6, rtol=1e-12)
        np.testing.assert_allclose(run.series("pcc", "p_gen_mw"),
                                   run.series("pv", "p_mw") + run.series("roof", "p_mw"),
                                   rtol=1e-12, atol=1e-15)
        from twin.accounting.carbon import flows_from_run

        f = flows_from_run(run)  # declared solar: renewable generation beside the PV plant
        np.testing.assert_allclose(f.pv_mwh["roof"], 2.0 * ghi / 1e6, rtol=1e-12, atol=1e-15)
        assert np.abs(_residual(f)).max() < 1e-9


def _check(path: Path, capsys) -> list[str]:
    try:
        code = main(["check", str(path)])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()


@pytest.mark.parametrize(("change", "field", "message"), [
    (("path: HeatPump.fmu", "path: missing.fmu"), "fmus[0].path", "no such file"),
    (("path: HeatPump.fmu", "path: park.yaml"), "fmus[0].path", "is not an FMU"),
    (("T_air: weather", "T_out: weather"), "fmus[0].inputs.T_out", "has no real input 'T_out'"),
    (("weather.temp_air_c", "weather.ghi_w_m2"), "fmus[0].inputs.T_air", "unit mismatch"),
    (("weather.temp_air_c", "pv.q_mw"), "fmus[0].inputs.T_air", "expected a twin attribute"),
    (("variable: P_el, unit: kW", "variable: P_el, unit: MW"), "fmus[0].outputs[0].unit",
     "unit mismatch: HeatPump.fmu declares P_el in kW"),
    (("variable: gas_rate, unit: Nm3/h", "variable: gas_rate, unit: kW"),
     "fmus[0].outputs[2].unit", "expected one of Nm3, Nm3/h, Nm3/s"),
    (("variable: Q_heat", "variable: T_air"), "fmus[0].outputs[1].variable",
     "has no real output 'T_air'"),
    (("COP: 2.5", "EER: 2.5"), "fmus[0].parameters.EER", "has no parameter 'EER'"),
])
def test_check_refuses_a_bad_fmu_entry(tmp_path, fmu, capsys, change, field, message):
    path = _scenario(tmp_path, fmu, FMU.replace(*change))
    lines = _check(path, capsys)
    assert len(lines) == 1, lines
    line = FMU.replace(*change).splitlines().index(next(
        x for x in FMU.replace(*change).splitlines() if change[1] in x))
    assert f"{path}:{len(BASE.splitlines()) + line + 1}: {field}: " in lines[0], lines
    assert message in lines[0]


def test_check_refuses_renewable_electricity_of_a_load_fmu(tmp_path, fmu, capsys):
    path = _scenario(tmp_path, fmu, FMU.replace("role: load", "role: load\n    generation: wind"))
    lines = _check(path, capsys)
    assert len(lines) == 1, lines
    assert "fmus[0].generation" in lines[0]
    assert "only a generator's electricity counts as renewable" in lines[0]


def test_check_refuses_a_model_exchange_fmu(tmp_path, fmu, capsys):
    """An FMU without co-simulation: its model description says ModelExchange only."""
    with zipfile.ZipFile(fmu) as z:
        files = {n: z.read(n) for n in z.namelist()}
    xml = files["modelDescription.xml"].decode()
    files["modelDescription.xml"] = re.sub(r"<CoSimulation ", "<ModelExchange ", xml).encode()
    path = _scenario(tmp_path, fmu)
    with zipfile.ZipFile(tmp_path / "HeatPump.fmu", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    lines = _check(path, capsys)
    assert len(lines) == 1
    assert "fmus[0].path: HeatPump.fmu is not a co-simulation FMU" in lines[0]


SPY = '''
import mosaik_api_v3

META = {"api_version": "3.0", "type": "time-based",
        "models": {"Spy": {"public": True, "params": [], "attrs": ["temp_air_c"]}}}
SEEN = []


class Spy(mosaik_api_v3.Simulator):
    """Keeps the air temperature it reads each hour."""

    def __init__(self):
        super().__init__(META)

    def init(self, sid, time_resolution=1.0, **kw):
        return self.meta

    def create(self, num, model):
        return [{"eid": f"Spy_{i}", "type": model} for i in range(num)]

    def step(self, time, inputs, max_advance):
        SEEN.append(sum(inputs["Spy_0"]["temp_air_c"].values()))
        return time + 3600

    def get_data(self, outputs):
        return {}
'''


def test_a_third_party_simulator_reads_the_weather(tmp_path, monkeypatch):
    (tmp_path / "weather_spy.py").write_text(SPY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "weather_spy", raising=False)
    path = tmp_path / "spy.yaml"
    path.write_text(BASE + """external:
  - name: spy
    python: weather_spy:Spy
    model: Spy
    links:
      - {source: weather, target: spy.Spy_0, attrs: [[temp_air_c, temp_air_c]]}
""")
    result = runner.run(scenario.load(path), out_dir=tmp_path)
    import weather_spy

    with open_run(result.path) as run:
        np.testing.assert_array_equal(weather_spy.SEEN, run.series("weather", "temp_air_c"))
