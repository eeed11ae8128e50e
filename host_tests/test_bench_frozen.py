"""tools/bench_rp2040.py's ESP32 estimates with the firmware frozen into the image.

Frozen, a module's bytecode, constants and names stay in flash. The estimates take out
what the boot's imports cost (rp2040_heap_imports_bytes) and, since stop 29, what each
module loaded after them and held in service costs, measured alone on the emulated chip
(the late run: rp2040_heap_late_modules_bytes, _master_bytes); what frozen modules still
make in RAM (frozen_ram_bytes()) is counted back once.
"""

import unittest

from support import cpython_only


def _qstr(n_qstr, text, pools):
    return "qstr pool: n_pool=7, n_qstr=%d, n_str_data_bytes=%d, n_total_bytes=%d" % (
        n_qstr,
        text,
        text + pools,
    )


@cpython_only("imports tools/bench_rp2040.py (subprocess, ast)")
class LateModulesTest(unittest.TestCase):
    def test_a_modules_cost_with_its_names_entries_not_the_pools_it_opened(self):
        import bench_rp2040

        lines = [
            _qstr(1250, 16000, 15000),
            "late_bytes bms.soc 3000",  # 10 new names, 120 B of text, no new pool
            _qstr(1260, 16120, 15000),
            "unrelated line",
            "late_bytes packsystem 12000",  # 5 names; the 1261st opened a 7 712 B pool
            _qstr(1265, 16180, 22712),
            "late_bytes protocols.pylon_can 800",  # no new name
            _qstr(1265, 16180, 22712),
        ]
        self.assertEqual(
            bench_rp2040.late_module_costs(lines),
            {
                "bms.soc": 3000 + 60,
                "packsystem": 12000 - 7712 + 30,
                "protocols.pylon_can": 800,
            },
        )
        self.assertEqual(bench_rp2040.late_module_costs([_qstr(1, 2, 144)]), {})

    def test_summed_over_the_modules_held_each_once(self):
        import bench_rp2040

        costs = {"bms.soc": 3000, "protocols.pylon_can": 800, "packsystem": 4000}
        held = {"app", "bms.soc", "protocols.pylon_can"}  # app: one of the imports
        master = held | {"packsystem"}
        self.assertEqual(
            bench_rp2040.late_bytes(costs, held, master),
            {
                "rp2040_heap_late_modules_bytes": 3800,
                "rp2040_heap_late_modules_master_bytes": 7800,
            },
        )
        self.assertEqual(
            bench_rp2040.late_bytes(costs, held), {"rp2040_heap_late_modules_bytes": 3800}
        )
        # a module held in service that the master dropped is not the master's
        got = bench_rp2040.late_bytes(costs, held, {"app", "packsystem"})
        self.assertEqual(got["rp2040_heap_late_modules_master_bytes"], 4000)

    def test_the_frozen_estimates_take_the_late_modules_out(self):
        import bench_rp2040

        held = {"bms", "bms.soc"}
        master = held | {"packsystem"}
        base = {
            "rp2040_heap_total_bytes": 233664,
            "rp2040_heap_imports_bytes": 87000,
            "rp2040_heap_free_service_bytes": 100000,
            "rp2040_heap_free_master_bytes": 90000,
        }
        late = dict(base)
        late["rp2040_heap_late_modules_bytes"] = 5000
        late["rp2040_heap_late_modules_master_bytes"] = 9000
        before = bench_rp2040.esp32_figures(base, held, master)
        after = bench_rp2040.esp32_figures(late, held, master)
        esp32 = bench_rp2040.ESP32_HEAP_BYTES
        used = 233664 - 100000 - 87000 + bench_rp2040.frozen_ram_bytes(held)
        self.assertEqual(before["esp32_heap_free_pct_frozen_est"], _pct(esp32, used))
        self.assertEqual(after["esp32_heap_free_pct_frozen_est"], _pct(esp32, used - 5000))
        used = 233664 - 90000 - 87000 + bench_rp2040.frozen_ram_bytes(master)
        self.assertEqual(before["esp32_heap_free_pct_frozen_master_est"], _pct(esp32, used))
        self.assertEqual(after["esp32_heap_free_pct_frozen_master_est"], _pct(esp32, used - 9000))
        # the other figures are as they were
        for key in before:
            if "frozen_est" not in key and "frozen_master_est" not in key:
                self.assertEqual(after[key], before[key], key)

    def test_the_late_run_loads_the_chip_scripts_imports_then_the_late_modules(self):
        import bench_rp2040

        src = bench_rp2040.imports_source()
        self.assertIn("from app import App", src)
        self.assertIn("_as_a_board()", src)
        self.assertNotIn("_FREE_BENCH", src)
        self.assertNotIn("_FREE_IMPORTED", src)
        held = {"bms", "bms.soc", "bms.limits", "app"}
        order = bench_rp2040.late_order(held, held | {"packsystem", "bms.nothing"})
        # the service's modules (each after its package), then the master's own
        self.assertEqual(set(order[:4]), held)
        self.assertLess(order.index("bms"), order.index("bms.soc"))
        self.assertEqual(order[4:], ["packsystem"])
        compile(bench_rp2040.LATE_CHIP % (src, tuple(order)), "late_modules.py", "exec")


def _pct(esp32, held_bytes):
    return round(100 * (esp32 - held_bytes) / esp32, 1)


if __name__ == "__main__":
    unittest.main()
