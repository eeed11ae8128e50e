"""The firmware boots and serves inside an ESP32's heap (the unix port, -X heapsize).

An ESP32 without PSRAM gives MicroPython about 111 936 bytes of heap
(../shared/spec/hardware.md section 5); `-X heapsize=109wK` gives the 64-bit unix port
the same number of words (pointers and object headers are twice the size here). The
firmware, compiled to .mpy as a board loads it, boots and runs a minute of service with
both inverter links busy (tools/heap_serve_upy.py: real drivers on small fakes of the
buses, no simulated world in the heap). A MemoryError, or a firmware that no longer
answers, fails the test: the firmware has outgrown the chip.
"""

import unittest

from support import ROOT, cpython_only, ensure_build

ESP32_HEAP = "109wK"  # 111 936 B on the chip, in 32-bit words: 109.3 K


@cpython_only("starts the unix port with its own heap size (subprocess)")
class Esp32HeapTest(unittest.TestCase):
    def test_boot_and_serve_in_an_esp32_heap(self):
        import os
        import subprocess

        import bench_rp2040

        import bench

        mpy = bench.compile_bytecode()
        replies = ensure_build() + "/heap_replies"
        os.makedirs(replies, exist_ok=True)
        bench_rp2040.record_replies(replies + "/bench_replies.py")
        out = subprocess.run(
            [bench.UPY, "-X", "heapsize=" + ESP32_HEAP, "tools/heap_serve_upy.py", mpy, replies],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        words = out.stdout.split()
        figures = dict(zip(words[0::2], (int(w) for w in words[1::2])))
        self.assertEqual(figures["exceptions"], 0)
        self.assertGreaterEqual(figures["replies"], 59)  # the RS485 master's polls, answered
        self.assertGreaterEqual(figures["frames"], 600)  # the CAN set, 11 frames a second
        self.assertLess(figures["service"], figures["heap"])
