"""pytest's view of host_tests/: the rules tools/test.py applies, for `pytest host_tests`.

The paths come from pyproject.toml (tools/ and host_tests/ on sys.path, so `hostpath`
and `support` import as under tools/test.py) and from hostpath, imported here as
tools/test.py imports it first (firmware/ and the repository): one test file runs alone
(`pytest host_tests/test_service.py`) as in the whole suite. Only tests marked with
support.cpython_only may skip, and only under MicroPython, which pytest never runs:
any skip here is reported as a failure, as tools/test.py counts it.
"""

import hostpath  # the paths, before any test module imports the firmware

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = "NOT ALLOWED TO SKIP (tools/test.py's rule): %s" % reason


def pytest_addoption(parser):
    parser.addoption(
        "--cover-long-runs",
        action="store_true",
        help="trace support.long_run tests for coverage too (make coverage)",
    )


def _long_run(item):
    return getattr(item.obj, "long_run", False) or getattr(item.cls, "long_run", False)


def pytest_collection_modifyitems(config, items):
    # support.long_run: the test's run is not traced for coverage (pytest-cov's mark),
    # unless --cover-long-runs
    if not config.getoption("--cover-long-runs"):
        for item in items:
            if _long_run(item):
                item.add_marker(pytest.mark.no_cover)


def pytest_collection_finish(session):
    # with --cover-long-runs, the long runs selected (node ids) go to build/long_runs.txt
    # for tools/coverage_check.py to tell what only they reach (that run alone writes it:
    # a test may run pytest on one file)
    if session.config.getoption("--cover-long-runs"):
        os.makedirs(hostpath.ROOT + "/build", exist_ok=True)
        with open(hostpath.ROOT + "/build/long_runs.txt", "w") as f:
            f.write("".join(i.nodeid + "\n" for i in session.items if _long_run(i)))
