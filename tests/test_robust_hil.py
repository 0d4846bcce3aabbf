"""A HIL run killed during its final writes leaves every previous file whole.

The verdicts, HIL KPIs and tables go into the run's file before it is published (one rename
with the park's judgement); the report, JUnit XML, JSON summary and the trace are each
written beside their place and renamed over it. Each case: a complete HIL run, then the same
run killed by SIGKILL at an aimed moment of its final writes (forked children: imports paid
once).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, interrupt
from tests.test_hil import scenario_text
from twin.core import atomic
from twin.core.errors import UserError

_KILLER = r'''
import hashlib, json, os, signal, sys
import xml.etree.ElementTree as ET
import h5py
from hil import run as hil_run
from pathlib import Path
from twin import runner
from twin.scenario import loads

out, text, moments = sys.argv[1], sys.argv[2], sys.argv[3:]
s = hil_run.prepare(loads(text, out + "/kill.yaml"), 1, out_dir=out)

def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)

def aim(where):
    if where == "mid_hil_tables":  # the first HIL table written into the file being judged
        real = hil_run.write_table
        hil_run.write_table = lambda *a, **k: (real(*a, **k), die())
    else:  # the file whole beside its place, killed at its rename
        suffix = {"report_rename": "-hil.html", "trace_rename": ".trace.jsonl"}[where]
        real = Path.replace
        Path.replace = lambda self, target: die() if str(target).endswith(suffix) else \
            real(self, target)

def look():
    h5 = runner.output_path(s, out)
    html = h5.with_name(h5.stem + "-hil.html")
    files = {"h5": h5, "html": html, "xml": html.with_suffix(".xml"),
             "json": html.with_suffix(".json"), "trace": hil_run.trace_path(s, out)}
    seen = {k: hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
            for k, p in files.items()}
    # a run is deterministic: within one second of wall time (the file's written_at) its
    # result is byte for byte the previous one, so which run's file is in place is told by
    # the inode a rename brings (the new file existed beside the old one: never the same)
    seen["h5_inode"] = h5.stat().st_ino
    with h5py.File(h5) as f:  # a plain open
        seen["h5_whole"] = bool(f["meta"].attrs["complete"]) and "hil/assertions" in f \
            and "kpi/hil_exchanges" in f
    ET.parse(files["xml"])
    seen["json_whole"] = isinstance(json.loads(files["json"].read_text()), dict)
    seen["html_whole"] = files["html"].read_text().rstrip().endswith("</html>")
    records = [json.loads(x) for x in files["trace"].read_text().splitlines()]
    seen["trace_whole"] = records[0]["type"] == "header" and len(records) > 2
    seen["partials"] = sorted(p.name for p in files["h5"].parent.iterdir()
                              if p.name.endswith(".partial"))
    return seen

for what in ["complete", *moments]:
    pid = os.fork()
    if pid == 0:
        if what != "complete":
            aim(what)
        try:
            hil_run.run(s, out_dir=out)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"what": what, "killed": os.WIFSIGNALED(status), **look()}), flush=True)
'''


def test_a_kill_aimed_at_the_final_writes_keeps_every_previous_file_whole(tmp_path):
    moments = ["mid_hil_tables", "report_rename", "trace_rename"]
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(tmp_path), scenario_text("sim"),
                           *moments], cwd=ROOT, capture_output=True, text=True, timeout=240)
    rows = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert len(rows) == 4, proc.stderr[-3000:]
    first, mid, report, trace = rows
    assert not first["killed"]
    assert first["partials"] == []
    for row in rows:  # every file whole, a plain h5py.File opens the result
        assert row["h5_whole"], row
        assert row["html_whole"], row
        assert row["json_whole"], row
        assert row["trace_whole"], row
    # killed while the verdicts went into the file being judged: nothing published
    assert mid["killed"]
    assert {k: mid[k] for k in ("h5", "h5_inode", "html", "xml", "json")} == \
           {k: first[k] for k in ("h5", "h5_inode", "html", "xml", "json")}
    assert "kill.h5.partial" in mid["partials"]  # its series, for a look
    # killed before the report's rename: the new result is published, the old report kept
    assert report["killed"]
    assert report["h5_inode"] != mid["h5_inode"]
    assert report["html"] == mid["html"]
    assert "kill-hil.html.partial" in report["partials"]
    # killed before the trace's rename: nothing of this run published, the trace kept
    assert trace["killed"]
    assert trace["trace"] == report["trace"]
    assert trace["h5"] == report["h5"]
    assert trace["h5_inode"] == report["h5_inode"]
    assert "kill.trace.jsonl.partial" in trace["partials"]


def test_a_report_that_cannot_be_written_is_one_line_and_the_previous_one_stays(tmp_path):
    path = tmp_path / "run-hil.xml"
    atomic.write_text(path, "<old/>\n")
    (tmp_path / "run-hil.xml.partial").mkdir()  # where the new one would be written
    with pytest.raises(UserError) as info:
        atomic.write_text(path, "<new/>\n")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{path}: cannot write")
    assert path.read_text() == "<old/>\n"


def test_ctrl_c_during_twin_hil_is_one_line_and_keeps_every_previous_file(tmp_path,
                                                                          monkeypatch):
    from hil import pacer
    from hil import run as hil_run
    from twin.scenario import loads

    path = tmp_path / "ctrlc.yaml"
    path.write_text(scenario_text("sim", extra="  step: 200ms\n"))
    out = tmp_path / "out"
    s = hil_run.prepare(loads(path.read_text(), path), 1, out_dir=out)
    hil_run.run(s, out_dir=out)  # the previous run: h5, report, XML, JSON, trace
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["ctrlc-hil.html", "ctrlc-hil.json", "ctrlc-hil.xml",
                              "ctrlc.h5", "ctrlc.trace.jsonl"]
    partial = out / "ctrlc.trace.jsonl.partial"

    def paced(steps: int) -> bool:  # the run is in real time: the pacer has recorded steps
        return partial.exists() and partial.read_text().count('"type": "pace"') >= steps

    rc, err = interrupt(["hil", str(path), "--duration", "60", "--out", str(out), "-q"],
                        lambda _: paced(4))
    assert rc == 130, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    header = next(i for i, line in enumerate(lines) if "steps of 0.2 s in real time" in line)
    assert len(lines[header + 1:]) == 1, err  # one line after the run's own header
    assert lines[-1].startswith("interrupted: stopped"), err
    assert {p.name: p.read_bytes() for p in out.iterdir()
            if not p.name.endswith(".partial")} == before
    assert paced(4)  # the interrupted run's trace, for a look

    # a KeyboardInterrupt inside a simulator's step (the pacer's, a generator) stops the run
    # too, and publishes nothing
    real, steps = pacer.PacerSim._after, []

    def after(self, k, *args):
        steps.append(k)
        if k == 3:
            raise KeyboardInterrupt
        return real(self, k, *args)

    monkeypatch.setattr(pacer.PacerSim, "_after", after)
    with pytest.raises(KeyboardInterrupt):
        hil_run.run(hil_run.prepare(loads(path.read_text(), path), 2, out_dir=out),
                    out_dir=out)
    assert steps == [0, 1, 2, 3]
    assert {p.name: p.read_bytes() for p in out.iterdir()
            if not p.name.endswith(".partial")} == before
