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
"""

import hostpath

import json
import os
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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
