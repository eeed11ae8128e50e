"""The bytecode functions a tick calls keep their frame on the C stack.

MicroPython allocates a bytecode function's frame on the heap when its state (locals
and value stack, N_STATE words) is more than 11 words: at every call, so a function the
tick calls must stay at 11 or fewer (stop 36: two locals more in the SOC's count made
it allocate at every tick, which no heap_locked test sees: with the heap locked the VM
falls back to the C stack). The unix port prints each function's N_STATE as it compiles
(-v -v); the figures are the same on a board.
"""

import unittest

from support import ROOT, cpython_only

# (module, function): bytecode the tick runs at every call, or every tick in a state
# that lasts (asleep, floating, pre-charging)
TICK_FUNCTIONS = (
    ("bms.soc", "_count"),
    ("bms.soc", "step"),
    ("bms.precharge", "step"),
    ("bms.button", "step"),
    ("bms.panel", "select"),
    ("bms.core", "_panel"),
    ("bms.core", "_sleep"),
    ("bms.protect", "_begin"),
)
MAX_STATE_WORDS = 11  # py/objfun.c: VM_MAX_STATE_ON_STACK


def n_states(modules):
    """{(module, function): N_STATE} of every code block the modules compile to."""
    import os
    import subprocess

    import bench

    env = dict(os.environ, MICROPYPATH="firmware")
    code = "import " + ", ".join(modules)
    out = subprocess.run(
        [bench.UPY, "-v", "-v", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    found = {}
    block = None
    for line in (out.stdout + out.stderr).splitlines():
        if ", code block '" in line:
            path = line.split(",")[0].split()[-1]
            mod = path[len("firmware/") : -len(".py")].replace("/", ".")
            block = (mod, line.split("code block '")[1].split("'")[0])
        elif line.startswith("(N_STATE ") and block is not None:
            found[block] = int(line[len("(N_STATE ") : -1])
            block = None
    return found


@cpython_only("compiles with the unix port's -v -v dump (subprocess)")
class TickFramesTest(unittest.TestCase):
    def test_the_ticks_functions_keep_their_frames_off_the_heap(self):
        found = n_states(sorted(set(m for m, _f in TICK_FUNCTIONS)))
        for key in TICK_FUNCTIONS:
            self.assertIn(key, found)
            self.assertLessEqual(found[key], MAX_STATE_WORDS, key)

    def test_the_dump_sees_a_frame_too_big(self):
        # (the measure itself: bms.core's step is known to exceed it, and says so)
        found = n_states(["bms.core"])
        self.assertGreater(found[("bms.core", "step")], MAX_STATE_WORDS)


if __name__ == "__main__":
    unittest.main()
