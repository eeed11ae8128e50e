"""bench/results.json for the tools that write their own set of figures into it (make soak,
make fuzz, make powercut): each replaces its set whole and keeps every other key, the way
tools/bench.py keeps theirs (its OTHER_TOOLS)."""

import hostpath

import json

PATH = hostpath.ROOT + "/bench/results.json"


def merge(figures, context, prefix, context_key):
    """figures into bench/results.json, replacing every key of the last run's set (those
    starting with prefix) whole; the other keys kept."""
    try:
        with open(PATH) as f:
            results = json.load(f)
    except (OSError, ValueError):
        results = {}
    for key in list(results):
        if key.startswith(prefix):
            results.pop(key)
    results.update(figures)
    results[context_key] = context
    with open(PATH, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
