"""The notebook timing plugin (notebooks/conftest.py): slow is reported, only a CI near-hang fails."""

import importlib.util
from pathlib import Path

PLUGIN = Path(__file__).parents[1] / "notebooks" / "conftest.py"
spec = importlib.util.spec_from_file_location("notebook_timing", PLUGIN)
timing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timing)

IDLE = {"07_hdnnp.ipynb": 57.0}


def test_a_slow_notebook_is_reported_but_never_fails_outside_ci():
    seconds = {"_build/notebooks/07_hdnnp.ipynb": 5000.0}
    assert timing.verdicts(seconds, IDLE, budget=300, factor=5, ci=False) == {
        "_build/notebooks/07_hdnnp.ipynb": "slow"}


def test_in_ci_only_many_times_the_idle_time_and_over_budget_fails():
    idle = {"07_hdnnp.ipynb": 100.0}  # 5 × idle = 500 s, above the 300 s budget
    cases = {290.0: "ok", 450.0: "slow", 510.0: "hang"}
    for seconds, expected in cases.items():
        got = timing.verdicts({"07_hdnnp.ipynb": seconds}, idle, budget=300, factor=5, ci=True)
        assert got == {"07_hdnnp.ipynb": expected}, seconds


def test_a_notebook_without_an_idle_time_is_never_called_a_hang():
    assert timing.verdicts({"99_new.ipynb": 1e5}, IDLE, 300, 5, ci=True) == {"99_new.ipynb": "slow"}


def test_every_course_notebook_has_a_recorded_idle_time():
    notebooks = sorted(p.name for p in PLUGIN.parent.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(timing.idle_seconds()) == notebooks


def test_readme_states_the_recorded_run_times():
    """One source for run times: the README's table shows notebooks/timings.json's seconds."""
    readme = (PLUGIN.parents[1] / "README.md").read_text()
    for name, seconds in timing.idle_seconds().items():
        row = next((line for line in readme.splitlines() if line.startswith(f"| {name[:2]} | `{name[:-6]}`")), None)
        assert row is not None, f"README has no table row for {name}"
        assert f"| {seconds:.0f} s |" in row, f"README's row for {name} does not say {seconds:.0f} s: {row}"


def test_every_notebook_header_states_its_recorded_run_time():
    import json
    import re

    for name, seconds in timing.idle_seconds().items():
        nb = json.loads((PLUGIN.parent / name).read_text())
        header = "".join(nb["cells"][0]["source"])
        stated = re.search(r"\*\*Run time\.\*\* About (\d+) s in `make test`", header)
        assert stated, f"{name}: the header's run time should read 'About N s in `make test`'"
        assert int(stated.group(1)) == round(seconds), f"{name} says {stated.group(1)} s, timings.json {seconds:.0f} s"
