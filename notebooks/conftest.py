"""Notebook runs under nbval: each notebook's wall time, and a failure when one exceeds its budget.

``pytest notebooks --nbval-lax ... --notebook-budget=300`` sums the duration of every cell of a
notebook (also under pytest-xdist, where the reports reach the controller), prints a table at the
end and fails the session when a notebook took longer than the budget.
"""

from collections import defaultdict

import pytest

_seconds: dict[str, float] = defaultdict(float)


def pytest_addoption(parser):
    parser.addoption("--notebook-budget", type=float, default=300.0,
                     help="fail when one notebook takes longer than this many seconds (default 300)")


def pytest_runtest_logreport(report):
    if report.nodeid.endswith(".ipynb") or ".ipynb::" in report.nodeid:
        _seconds[report.nodeid.split("::")[0]] += report.duration


def _over_budget(config):
    budget = config.getoption("--notebook-budget")
    return {nb: s for nb, s in _seconds.items() if s > budget}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _seconds:
        return
    budget = config.getoption("--notebook-budget")
    terminalreporter.section("notebook wall times")
    for nb, seconds in sorted(_seconds.items()):
        flag = "  OVER BUDGET" if seconds > budget else ""
        terminalreporter.write_line(f"{nb:50s} {seconds:7.1f} s{flag}")
    terminalreporter.write_line(f"{'total':50s} {sum(_seconds.values()):7.1f} s (budget {budget:.0f} s each)")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    over = _over_budget(session.config)
    if over and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
