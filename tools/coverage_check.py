"""The coverage gate of `make test` and the table of `make coverage`.

    python tools/coverage_check.py [--table]

Reads build/.coverage, which the CPython suite leaves when it runs under pytest-cov
(`pytest --cov`; the settings are in pyproject.toml: firmware/ only, lines and
branches). Prints the branch coverage of firmware/ beside its goal and the coverage of
lines and branches together; with --table first the table per file (missing lines
included) and the HTML report in build/coverage/. Exits 1 when the branches covered
fall below GOAL_BRANCH_PCT, or when there is no data.

Lines that cannot run on the host are marked in the source with a
`# pragma: no cover - why` comment, each one saying why; nothing is left out in bulk.

make test's run leaves the tests marked support.long_run untraced (the tracer slows
their simulations three to four times), so its figure counts what the other tests
reach. make coverage traces them too, with each test's context, and --long-runs then
lists every arc (line to line, or out of a function) that only long runs reach
(build/long_runs.txt names them) and exits 1 if there is one, or if no long run has a
context (their names not pytest's): the rule is that a focused test reaches it as well.
"""

import hostpath

import json
import os
import re
import sys

GOAL_BRANCH_PCT = 95.0
DATA = hostpath.ROOT + "/build/.coverage"
JSON = hostpath.ROOT + "/build/coverage.json"


def main(argv):
    try:
        import coverage
    except ImportError:
        print("coverage: not installed (make builds .venv from requirements.txt)")
        return 1
    if not os.path.exists(DATA):
        print("coverage: no data in build/.coverage (run make test or make coverage)")
        return 1
    os.chdir(hostpath.ROOT)  # file names in the table relative to the repository
    cov = coverage.Coverage(data_file=DATA, config_file=hostpath.ROOT + "/pyproject.toml")
    cov.load()
    if "--table" in argv:
        cov.report(file=sys.stdout)
        cov.html_report()
    with open(os.devnull, "w") as quiet:
        sys_stdout, sys.stdout = sys.stdout, quiet  # json_report announces itself
        try:
            cov.json_report(outfile=JSON)
        finally:
            sys.stdout = sys_stdout
    with open(JSON) as f:
        totals = json.load(f)["totals"]
    branches = totals["percent_branches_covered"]
    both = totals["percent_covered"]
    ok = branches >= GOAL_BRANCH_PCT
    print(
        "coverage of firmware/: %.1f %% of branches (goal >= %.0f %%: %s), %.1f %% of lines and"
        " branches (%d of %d lines, %d of %d branches)"
        % (
            branches,
            GOAL_BRANCH_PCT,
            "ok" if ok else "MISSED",
            both,
            totals["covered_lines"],
            totals["num_statements"],
            totals["covered_branches"],
            totals["num_branches"],
        )
    )
    if "--long-runs" in argv and not only_long_runs(cov.get_data()):
        ok = False
    return 0 if ok else 1


def only_long_runs(data, names=hostpath.ROOT + "/build/long_runs.txt"):
    """Print the arcs reached only in the contexts of the long runs (node ids, a line each
    in the file `names`); whether there were none (and the runs had contexts)."""
    try:
        with open(names) as f:
            long_runs = set(line.strip() for line in f if line.strip())
    except OSError:
        print("coverage: no list of the long runs in %s (make coverage writes it)" % names)
        return False
    contexts = data.measured_contexts()
    if contexts <= {""}:
        print("coverage: no test contexts in the data (make coverage records them)")
        return False
    # a context is "node id|phase": a long run's setup and teardown are traced in make test
    slow = sorted(c for c in contexts if c.endswith("|run") and c[:-4] in long_runs)
    unseen = len(long_runs) - len(slow)  # (a test that reaches no firmware line has none)
    if long_runs and not slow:
        print("coverage: none of the long runs has a context: their names are not pytest's")
    found = []
    if slow:
        either = "(?:%s)$" % "|".join(re.escape(c) for c in slow)
        only = _arcs(data, ["^" + either]) - _arcs(data, ["^(?!%s)" % either])
        if only:
            by_run = [(c[:-4], _arcs(data, ["^%s$" % re.escape(c)])) for c in slow]
            for path, arc in sorted(only):
                test = [name for name, reached in by_run if (path, arc) in reached][0]
                found.append((os.path.relpath(path, hostpath.ROOT), arc, test))
    for path, arc, test in found:
        print("only a long run reaches %s %d->%d (%s)" % (path, arc[0], arc[1], test))
    # (arcs as coverage.py records them: from line to line, and out of a function by its
    # end or an exception, with those on excluded lines: stricter than the gate's count)
    ok = not found and (slow or not long_runs)
    print(
        "coverage: %d long-run tests (%d reach no firmware line); %d arcs only they reach"
        " (goal 0: %s)" % (len(long_runs), unseen, len(found), "ok" if ok else "MISSED")
    )
    return bool(ok)


def _arcs(data, patterns):
    """Every (file, arc) of the contexts the patterns select."""
    data.set_query_contexts(patterns)
    out = set()
    for path in data.measured_files():
        out.update((path, arc) for arc in data.arcs(path) or ())
    data.set_query_contexts(None)
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
