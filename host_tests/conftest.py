"""pytest's view of host_tests/: the rules tools/test.py applies, for `pytest host_tests`.

The paths come from pyproject.toml (tools/ and host_tests/ on sys.path, so `hostpath`
and `support` import as under tools/test.py). Only tests marked with
support.cpython_only may skip, and only under MicroPython, which pytest never runs:
any skip here is reported as a failure, as tools/test.py counts it.
"""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = "NOT ALLOWED TO SKIP (tools/test.py's rule): %s" % reason
