"""The adapters: attribute tables taken from the models' declarations, strict Control commands."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from adapters.base import CONTROL_ATTR, ControlError, Model
from adapters.battery_sim import BatterySim
from adapters.ems_sim import COMMANDS, SIGNAL_OF, SIGNALS, EMSSim
from adapters.loads_sim import LoadsSim
from hil.proxy_sim import HILSim
from twin import runner, scenario
from twin.core.quantities import Quantity, names
from twin.core.results import open_run
from twin.cosim import world
from twin.ems import controller
from twin.models import balance, battery, control, pv, weather, weather_nwp, wind
from twin.models.aoi import line as aoi_line
from twin.models.grid import quantities as grid_quantities
from twin.models.loads import ev, factory, heat

START = "2027-01-01T00:00:00+08:00"
PARK = Path(__file__).resolve().parents[1] / "scenarios" / "park.yaml"

# simulator -> model -> (outputs, inputs, signals) as the model modules declare them
DECLARED: dict[str, dict[str, tuple[tuple[Quantity, ...], ...]]] = {
    "Weather": {"Weather": (weather.OUTPUTS + weather_nwp.OUTPUTS, (), ())},
    "PV": {"PVPlant": (pv.OUTPUTS, pv.INPUTS, ())},
    "Wind": {"WindFarm": (wind.OUTPUTS, wind.INPUTS, ())},
    "Loads": {"Factory": (factory.OUTPUTS, factory.INPUTS, ()),
              "EVHub": (ev.OUTPUTS, ev.INPUTS, ev.SIGNALS),
              "HeatSupply": (heat.OUTPUTS, heat.INPUTS, ())},
    "Battery": {"Battery": (battery.OUTPUTS, battery.INPUTS, ()),
                "Rule": (control.OUTPUTS, control.INPUTS, ())},
    "Balance": {"PCC": (balance.OUTPUTS + balance.ISLAND, balance.INPUTS, ())},
    "Grid": {"Grid": (grid_quantities.OUTPUTS, grid_quantities.INPUTS, ())},
    "AOI": {"AOILine": (aoi_line.RECORDED, (), ())},
    "EMS": {"EMS": (controller.OUTPUTS, EMSSim.MODELS["EMS"].inputs, SIGNALS),
            **{m: ((q,), (), ()) for m, q in COMMANDS.items()}},
}


def _same(a: tuple[Quantity, ...], b: tuple[Quantity, ...]) -> bool:
    """The very same declaration objects, in order (equal copies typed again do not count)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------- one declaration
def test_every_adapter_model_is_declared_here():
    offered = {sim: set(cls.MODELS) for sim, cls in world.ADAPTERS.items() if sim != "Recorder"}
    assert offered == {sim: set(models) for sim, models in DECLARED.items()}


@pytest.mark.parametrize("sim", sorted(DECLARED))
def test_adapter_attributes_are_the_models_declarations(sim):
    cls = world.ADAPTERS[sim]
    meta = cls().meta
    for model, (outputs, inputs, signals) in DECLARED[sim].items():
        m: Model = cls.MODELS[model]
        assert _same(m.outputs, outputs), f"{sim}.{model} outputs are not the model's"
        assert _same(m.inputs, inputs), f"{sim}.{model} inputs are not the model's"
        assert _same(m.signals, signals), f"{sim}.{model} signals are not the model's"
        sent = names(outputs + signals)
        attrs = meta["models"][model]["attrs"]
        assert attrs == [*sent, *(n for n in names(inputs) if n not in sent)]
    assert set(meta["models"]) == set(DECLARED[sim]) | {"Outputs", "Control"}


def test_declarations_name_the_models_results():
    def fields(cls: type) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    assert names(pv.OUTPUTS) == fields(pv.PVOutput)
    assert names(wind.OUTPUTS) == fields(wind.WindOutput)
    assert names(battery.OUTPUTS) == fields(battery.BatteryStep)
    assert names(ev.OUTPUTS) == fields(ev.EVOutput)
    assert names(heat.OUTPUTS) == fields(heat.HeatOutput)
    assert names(factory.OUTPUTS) == (*fields(factory.FactoryOutput), "p_shift_mw")
    assert set(names(aoi_line.OUTPUTS)) <= set(fields(aoi_line.LineOutput))
    assert set(fields(balance.PCCFlow)) <= set(names(balance.OUTPUTS))
    assert names(weather.SERIES) == weather.WeatherSeries.VARIABLES
    series = weather.WeatherSeries(epoch_s=[0], step_s=900, wind_height_m=10.0, roughness_m=0.1,
                                   **dict.fromkeys(weather.WeatherSeries.VARIABLES, [1.0]))
    assert tuple(series.row(0)) == names(weather.OUTPUTS)
    assert all(q.agg in ("mean", "sum") for q in aoi_line.OUTPUTS + ev.OUTPUTS + heat.OUTPUTS)
    assert {q.name for q in aoi_line.OUTPUTS if q.agg == "sum"} >= {"e_kwh", "boards_out"}


def test_weather_inputs_are_the_weathers_outputs():
    # what the wiring connects from the weather: each model input the weather declares
    # (the heat supply's other inputs, the park's generation and loads, come from the park)
    heat_weather = tuple(q for q in heat.INPUTS if q.name not in ("p_gen_mw", "p_load_mw"))
    expected = {"pv": names(pv.INPUTS), "wind": names(wind.INPUTS),
                "factory": ("temp_air_c",), "heat": names(heat_weather)}
    assert expected == world.WEATHER_TO
    for quantities in (pv.INPUTS, wind.INPUTS, heat_weather, factory.INPUTS[:1]):
        assert all(any(q is w for w in weather.OUTPUTS) for q in quantities)


def test_hil_proxies_take_the_models_quantities():
    assert _same(HILSim.MODELS["Battery"].outputs[:len(battery.OUTPUTS)], battery.OUTPUTS)
    assert HILSim.MODELS["Battery"].inputs[0] is battery.INPUTS[0]
    assert HILSim.MODELS["Load"].outputs[0] is factory.OUTPUTS[0]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, runner.RunResult]:
    """A day of the reference park with the EMS, with its network and with the lossless PCC."""
    out = tmp_path_factory.mktemp("adapters")
    s = scenario.load(PARK).with_days(1)
    s = dataclasses.replace(s, controller=dataclasses.replace(s.controller, kind="ems"))
    return {"grid": runner.run(dataclasses.replace(s, output=dataclasses.replace(
                s.output, name="grid")), out_dir=out),
            "balance": runner.run(dataclasses.replace(s, grid=None, output=dataclasses.replace(
                s.output, name="balance")), out_dir=out)}


@pytest.mark.parametrize("pcc", ["grid", "balance"])
def test_recorded_units_are_the_models_declarations(recorded, pcc):
    by_kind = {"weather": weather.OUTPUTS + weather_nwp.OUTPUTS, "pv": pv.OUTPUTS, "wind": wind.OUTPUTS,
               "factory": factory.OUTPUTS, "ev": ev.OUTPUTS, "heat": heat.OUTPUTS,
               "battery": battery.OUTPUTS, "aoi": aoi_line.RECORDED, "ems": controller.OUTPUTS,
               "pcc": grid_quantities.OUTPUTS if pcc == "grid"
               else balance.OUTPUTS + balance.ISLAND}
    with open_run(recorded[pcc].path) as run:
        kinds = {run.entity_attrs(e)["kind"] for e in run.entities()}
        assert kinds == set(by_kind) | {"command"}
        for entity in run.entities():
            kind = run.entity_attrs(entity)["kind"]
            attrs = [a for e, a in run.series_keys() if e == entity]
            declared = {q.name: q for q in by_kind.get(kind, controller.COMMANDS)}
            if kind == "command":
                assert len(attrs) == 1
            else:
                assert sorted(attrs) == sorted(declared), entity
            for attr in attrs:
                info = run.info(entity, attr)
                q = declared[attr]
                assert (info.unit, info.description, info.aggregation) == (
                    q.unit, q.doc, q.agg), f"{entity}/{attr}"
        sums = {(e, a) for e, a in run.series_keys() if run.info(e, a).aggregation == "sum"}
        assert ("heat-park-district", "gas_nm3") in sums  # an amount per step
        assert not any(a == "p_mw" for _, a in sums)  # powers are means over the step


# --------------------------------------------------------------------- Control commands
def _battery_sim() -> BatterySim:
    sim = BatterySim()
    sim.init("Battery-0", start=START, step_s=900)
    sim.create(1, "Battery", name="bess", p_max_mw=10.0, e_max_mwh=40.0)
    sim.create(1, "Control", name="control")
    return sim


def _command(commands: dict) -> dict:
    return {"control": {CONTROL_ATTR: {"EMS-0.ems": commands}}}


def test_a_command_for_a_misspelt_entity_raises():
    sim = _battery_sim()
    with pytest.raises(ControlError) as info:
        sim.step(0, _command({"bes": {"p_set_mw": 2.0}}), 900)
    text = str(info.value)
    assert isinstance(info.value, ValueError)
    assert text.startswith("Battery-0: Control command from EMS-0.ems")
    assert "unknown entity 'bes'" in text
    assert text.endswith("entities: bess")


def test_a_command_for_a_misspelt_attribute_raises():
    sim = _battery_sim()
    with pytest.raises(ControlError) as info:
        sim.step(0, _command({"bess": {"p_set_mwh": 2.0}}), 900)
    text = str(info.value)
    assert text.startswith("Battery-0: Control command from EMS-0.ems")
    assert "unknown attribute(s) 'p_set_mwh' of entity 'bess'" in text
    assert text.endswith("inputs of its model Battery: p_set_mw, soc_measured")


def test_a_command_for_an_output_is_no_input():
    sim = _battery_sim()
    with pytest.raises(ControlError, match="'soc'"):
        sim.step(0, _command({"bess": {"soc": 0.9}}), 900)


def test_a_correct_command_acts_as_a_connection_would():
    commanded, connected = _battery_sim(), _battery_sim()
    commanded.step(0, _command({"bess": {"p_set_mw": 2.0}}), 900)
    connected.step(0, {"bess": {"p_set_mw": {"EMS-0.ems": 2.0}}}, 900)
    got = commanded.get_data({"bess": ["p_mw", "soc"]})
    assert got == connected.get_data({"bess": ["p_mw", "soc"]})
    assert got["bess"]["p_mw"] == 2.0


def test_the_ems_sends_each_simulator_only_its_own_entities():
    """What the EMS sends passes the Control entities of the battery and loads simulators."""
    decision = controller.Decision(
        p_storage_mw={"bess": -3.0}, p_ev_limit_mw={"ev": 0.5}, p_shift_mw={"plant": 1.5},
        replanned=True, status="optimal", solve_ms=1.0, up_mw=0.0, down_mw=0.0,
        import_cap_mw=float("nan"), import_baseline_mw=float("nan"), import_plan_mw=0.0)

    class Fixed:
        def step(self, i, measurement):
            return decision

    ems = EMSSim()
    ems.init("EMS-0", start=START, step_s=900, ems=Fixed())
    ems.create(1, "EMS", name="ems", kinds={})
    for model, target in (("BatteryCommand", "bess"), ("EVCommand", "ev"),
                          ("ShiftCommand", "plant")):
        ems.create(1, model, name=f"cmd-{target}", target=target)
    ems.step(0, {}, 900)
    sent = ems.get_data({"ems": [s.name for s in SIGNALS]})["ems"]
    assert sent == {"storage_commands": {"bess": {"p_set_mw": -3.0}},
                    "load_commands": {"ev": {"p_limit_mw": 0.5}, "plant": {"p_shift_mw": 1.5}}}
    assert set(SIGNAL_OF.values()) == set(sent)

    batteries = _battery_sim()
    batteries.step(0, {"control": {CONTROL_ATTR: {"EMS-0.ems": sent["storage_commands"]}}}, 900)
    assert batteries.get_data({"bess": ["p_mw"]})["bess"]["p_mw"] == -3.0

    loads = LoadsSim()
    loads.init("Loads-0", start=START, step_s=900, duration_s=86400)
    loads.create(1, "Factory", name="plant", kind="supplier", p_peak_mw=30.0)
    loads.create(1, "EVHub", name="ev", kind="fleet", n_chargers=40)
    loads.create(1, "Control", name="control")
    loads.step(0, {"control": {CONTROL_ATTR: {"EMS-0.ems": sent["load_commands"]}},
                   "plant": {"temp_air_c": {"Weather-0.weather": 5.0}}}, 900)
    assert loads.get_data({"plant": ["p_shift_mw"]})["plant"]["p_shift_mw"] == 1.5
    with pytest.raises(ControlError, match="'bess'.*entities: ev, plant"):  # not the loads'
        loads.step(900, {"control": {CONTROL_ATTR: {"EMS-0.ems": sent["storage_commands"]}},
                         "plant": {"temp_air_c": {"Weather-0.weather": 5.0}}}, 900)
