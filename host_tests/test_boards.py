"""The chip boards (boards/rp2040, boards/esp32) built on the host against strict fakes.

Each board file is imported with host_tests/strict_machine.py standing in for `machine`
(one fake per chip, refusing what that chip cannot do) and constructed; the test then
reads back what was built: every pin of the board's table used once and as the table
says, the buses at the right rates, the UARTs with room for a whole reply, the watchdog.
A wrong pin or bus in a board file fails here. Also: the strict fakes themselves refuse
what the chips refuse, main.py picks the board by sys.platform, the littlefs adapter
carries the store, and the README's wiring tables match the board files.
"""

import sys
import time
import unittest

import strict_machine as sm
from support import ROOT, ensure_build, read

from drivers.mcp2515 import RING_FRAMES
from drivers.panel import LED_ALM, LED_RUN

_BOARD_MODULES = ("boards.chip", "boards.rp2040.board", "boards.esp32.board", "boards.main")


class _Time:
    """The boards' `time` (boards/chip.py's): sleep_us (the MCP2515's reset polls) as a
    no-op, the rest the host's."""

    def __getattr__(self, name):
        return getattr(time, name)


def _sleep_us(us):
    pass


FakeTime = _Time()
FakeTime.sleep_us = _sleep_us


def _forget_boards():
    for name in _BOARD_MODULES:
        if name in sys.modules:
            del sys.modules[name]


def _fake_machine(fake):
    """`fake` as `machine`, the board modules forgotten; returns what was there."""
    saved = sys.modules.get("machine")
    _forget_boards()
    sys.modules["machine"] = fake
    return saved


def _machine_back(saved):
    """`machine` as it was before _fake_machine(), the board modules forgotten."""
    if saved is None:
        del sys.modules["machine"]
    else:
        sys.modules["machine"] = saved
    _forget_boards()


def build(chip, data_dir=None):
    """(the board module, a constructed Board, the fake machine) for chip."""
    fake = sm.make(chip)
    saved = _fake_machine(fake)
    try:
        import boards.chip as chip_mod

        chip_mod.DATA_DIR = data_dir or ensure_build() + "/board_data"
        module = __import__("boards.%s.board" % chip, None, None, ["Board"])
        sys.modules["boards.chip"].time = FakeTime
        board = module.Board()
    finally:
        _machine_back(saved)
    return module, board, fake


def built(fake, kind):
    return [(bus_id, args) for k, bus_id, args in fake.built if k == kind]


class BoardCase:
    """The checks both chip boards must pass (mixed into one TestCase per chip)."""

    CHIP = None

    def setUp(self):
        self.module, self.board, self.fake = build(self.CHIP)
        self.pins = self.module.PINS

    def test_every_gpio_of_the_table_is_used_once_as_the_table_says(self):
        gpios = [n for n in self.pins.values() if type(n) is int]
        self.assertEqual(len(gpios), len(set(gpios)), "a GPIO appears twice in PINS")
        self.assertEqual(sorted(self.fake.claims), sorted(gpios))
        for name, n in self.pins.items():
            if type(n) is not int:
                continue
            function = self.fake.claims[n][0]
            if name.startswith("I2C_"):
                self.assertEqual(function, "i2c_" + name[4:].lower(), name)
            elif name.startswith("SPI_"):
                self.assertEqual(function, "spi_" + name[4:].lower(), name)
            elif name.endswith("_TX") or name.endswith("_RX"):
                self.assertEqual(function, "uart_" + name[-2:].lower(), name)
            elif name.startswith(("LED", "RELAY", "AFE_C", "AFE_D", "FET", "CAN_CS", "EXP_CS")):
                self.assertEqual(function, "out", name)
            elif name.endswith("_DE"):
                self.assertEqual(function, "out", name)
            else:
                self.assertEqual(function, "in", name)

    def test_the_build_is_dropped_once_the_board_is_built(self):
        # boards/chip_build.py runs once, at boot (bms.lazy): its code must not stay in
        # a board's heap, neither registered nor as the boards package's attribute
        import boards

        self.assertNotIn("boards.chip_build", sys.modules)
        self.assertFalse(hasattr(boards, "chip_build"))
        self.assertFalse(hasattr(self.module.Board, "_port"))
        self.assertIsNotNone(self.board.rs485_out)  # (and it did build the board)

    def test_expander_pins_once_each(self):
        names = [v for v in self.pins.values() if type(v) is str]
        self.assertEqual(len(names), 16)
        self.assertEqual(len(set(names)), 16)
        for port in ("GPA", "GPB"):
            for k in range(8):
                self.assertIn(port + str(k), names)

    def test_signals_of_the_pack(self):
        wanted = ["LED_RUN", "LED_ALM", "LED_SOC1", "LED_SOC2", "LED_SOC3", "LED_SOC4"]
        wanted += ["LED_MS", "BTN_RESET", "IN_PASSIVE", "IN_RSD", "IN_REVERSE"]
        wanted += ["DIP%d" % k for k in range(1, 8)]
        wanted += ["RELAY_CHG", "RELAY_DSG", "FET_PRECHARGE", "AFE_CFETOFF", "AFE_DFETOFF"]
        wanted += ["AFE_ALERT", "I2C_SDA", "I2C_SCL", "CAN_CS", "CAN_INT", "SPI_SCK"]
        wanted += ["SPI_MOSI", "SPI_MISO", "EXP_CS"]
        for port in ("RS485_1_", "RS485_2_"):
            wanted += [port + "TX", port + "RX", port + "DE"]
        self.assertEqual(sorted(self.pins), sorted(wanted))

    def test_front_end_on_i2c_at_400_khz(self):
        ((bus_id, args),) = built(self.fake, "I2C")
        self.assertEqual(args["freq"], 400000)
        self.assertEqual((args["scl"], args["sda"]), (self.pins["I2C_SCL"], self.pins["I2C_SDA"]))
        self.assertIs(self.board.afe.i2c, self.board.i2c)

    def test_can_and_expander_share_one_spi_in_mode_0(self):
        ((bus_id, args),) = built(self.fake, "SPI")
        self.assertEqual((args["polarity"], args["phase"]), (0, 0))
        self.assertLessEqual(args["baudrate"], 10000000)  # the MCP2515's and MCP23S17's most
        self.assertIs(self.board.can.spi, self.board.expander.spi)
        self.assertIs(self.board.can.sleep_us, FakeTime.sleep_us)
        self.assertEqual(self.board.can.osc_hz, 8000000)
        self.assertIsNotNone(self.board.can.int_pin)

    def test_can_int_drains_through_the_boards_interrupt(self):
        # the CAN controller's INT pin: its falling edge runs the driver's handler (hard
        # on the RP2040, inside any C call; soft on the ESP32, which has no hard pin
        # interrupts), the ring is there, the expander on the same bus takes the driver
        # as its lock
        ((gpio, args),) = built(self.fake, "irq")
        self.assertEqual(gpio, self.pins["CAN_INT"])
        self.assertEqual(args["trigger"], self.fake.Pin.IRQ_FALLING)
        self.assertEqual(args["hard"], self.HARD)
        self.assertIs(args["handler"], self.board.can.irq_handler)
        self.assertEqual(len(self.board.can._ring), RING_FRAMES * 13)  # 13 B a frame
        self.assertIs(self.board.expander.lock, self.board.can)

    def test_two_rs485_ports_with_room_for_a_whole_reply(self):
        uarts = built(self.fake, "UART")
        self.assertEqual(len(uarts), 2)
        for _id, args in uarts:
            self.assertGreaterEqual(args["txbuf"], 256)
            self.assertEqual(args["timeout"], 0)
        link_in = dict(uarts)[self.module.UART_LINK_IN]
        self.assertEqual(link_in["tx"], self.pins["RS485_1_TX"])
        self.assertIsNotNone(self.board.rs485)
        self.assertIsNotNone(self.board.rs485_out)
        self.assertEqual(self.board.rs485.de.level, 0)  # receiving until a reply

    def test_watchdog_4_s_and_none_for_a_tool(self):
        ((wdt_id, args),) = built(self.fake, "WDT")
        self.assertEqual(args["timeout"], 4000)
        self.assertIsNot(self.board.wdt, None)

    def test_safe_levels_after_construction(self):
        b = self.board
        self.assertEqual(b.fets.chg_off_pin.level, 1)
        self.assertEqual(b.fets.dsg_off_pin.level, 1)
        self.assertEqual(b.fets.pre_pin.level, 0)
        x = b.expander
        relays = (sm_bit(self.pins["RELAY_CHG"]), sm_bit(self.pins["RELAY_DSG"]))
        for bit in relays:
            self.assertFalse(x.olat[bit >> 3] & (1 << (bit & 7)))
            self.assertFalse(x.iodir[bit >> 3] & (1 << (bit & 7)))  # outputs
        for k in range(1, 8):
            bit = sm_bit(self.pins["DIP%d" % k])
            self.assertTrue(x.iodir[bit >> 3] & (1 << (bit & 7)))  # inputs...
            self.assertTrue(x.gppu[bit >> 3] & (1 << (bit & 7)))  # ...pulled up

    def test_panel_leds_reach_the_expander_latch(self):
        b = self.board
        spi = b.spi
        n = len(spi.transfers)
        b.panel.show(LED_RUN | LED_ALM)
        writes = spi.transfers[n:]
        self.assertEqual(len(writes), 2)  # only the LEDs that changed
        run = sm_bit(self.pins["LED_RUN"])
        self.assertEqual(writes[0][:2], bytes((0x40, 0x14 + (run >> 3))))

    def test_app_boots_on_it(self):
        # nothing answers on the fake buses: the pack stays safe, the app does not stop
        from app import App

        app = App(self.board)
        app.start(0)
        app.poll(0)
        self.assertFalse(app.afe_ok)
        self.assertEqual(self.board.fets.chg_off_pin.level, 1)
        self.assertEqual(app.exceptions, 0)

    def test_watchdog_left_out_for_a_tool(self):
        fake = sm.make(self.CHIP)
        saved = _fake_machine(fake)
        try:
            module = __import__("boards.%s.board" % self.CHIP, None, None, ["Board"])
            sys.modules["boards.chip"].time = FakeTime
            module.Board(watchdog=False)
        finally:
            _machine_back(saved)
        self.assertEqual(built(fake, "WDT"), [])


def sm_bit(name):
    return ("GPA", "GPB").index(name[:3]) * 8 + int(name[3])


class Rp2040BoardTest(BoardCase, unittest.TestCase):
    HARD = True
    CHIP = sm.RP2040


class Esp32BoardTest(BoardCase, unittest.TestCase):
    HARD = False
    CHIP = sm.ESP32

    def test_strapping_pins_carry_only_outputs_nothing_else_drives(self):
        for name, n in self.pins.items():
            if n in (0, 2, 5, 12, 15):
                self.assertIn(self.fake.claims[n][0], ("uart_tx", "spi_mosi", "spi_sck"), name)


class StrictFakeTest(unittest.TestCase):
    """The fakes refuse what the chips refuse (so the board tests mean something)."""

    def refused(self, chip, make):
        m = sm.make(chip)
        with self.assertRaises(sm.Refused):
            make(m)

    def test_rp2040(self):
        self.refused(sm.RP2040, lambda m: m.UART(0, tx=m.Pin(4), rx=m.Pin(5)))  # UART1's
        self.refused(sm.RP2040, lambda m: m.UART(1, tx=m.Pin(5), rx=m.Pin(4)))  # swapped
        self.refused(sm.RP2040, lambda m: m.I2C(0, scl=m.Pin(7), sda=m.Pin(6)))  # I2C1's
        self.refused(sm.RP2040, lambda m: m.I2C(1, scl=m.Pin(6), sda=m.Pin(7)))
        self.refused(sm.RP2040, lambda m: m.SPI(1, sck=m.Pin(18), mosi=m.Pin(19), miso=m.Pin(16)))
        self.refused(sm.RP2040, lambda m: m.SPI(0, sck=m.Pin(19), mosi=m.Pin(18), miso=m.Pin(16)))
        self.refused(sm.RP2040, lambda m: m.Pin(25, m.Pin.OUT))  # the Pico's LED, off-header
        self.refused(sm.RP2040, lambda m: m.WDT(timeout=9000))
        self.refused(sm.RP2040, lambda m: (m.Pin(3, m.Pin.OUT), m.Pin(3, m.Pin.IN)))
        m = sm.make(sm.RP2040)
        m.UART(0, tx=m.Pin(0), rx=m.Pin(1))
        m.UART(1, tx=m.Pin(8), rx=m.Pin(9))
        m.I2C(0, scl=m.Pin(5), sda=m.Pin(4))
        m.SPI(1, sck=m.Pin(10), mosi=m.Pin(11), miso=m.Pin(12))
        m.SPI(0, sck=m.Pin(18), mosi=m.Pin(19), miso=m.Pin(16))

    def test_esp32(self):
        self.refused(sm.ESP32, lambda m: m.Pin(7, m.Pin.OUT))  # flash
        self.refused(sm.ESP32, lambda m: m.Pin(1, m.Pin.OUT))  # console TX
        self.refused(sm.ESP32, lambda m: m.UART(0, tx=m.Pin(17), rx=m.Pin(16)))
        self.refused(sm.ESP32, lambda m: m.Pin(34, m.Pin.OUT))  # input only
        self.refused(sm.ESP32, lambda m: m.Pin(35, m.Pin.IN, m.Pin.PULL_UP))  # no pulls
        self.refused(sm.ESP32, lambda m: m.UART(1, tx=m.Pin(36), rx=m.Pin(16)))
        self.refused(sm.ESP32, lambda m: m.Pin(0, m.Pin.IN))  # strapping
        self.refused(sm.ESP32, lambda m: m.Pin(12, m.Pin.OUT))
        self.refused(sm.ESP32, lambda m: m.I2C(0, scl=m.Pin(15), sda=m.Pin(4)))
        self.refused(sm.ESP32, lambda m: m.UART(2, tx=m.Pin(17), rx=m.Pin(5)))
        self.refused(sm.ESP32, lambda m: m.SPI(0, sck=m.Pin(18), mosi=m.Pin(23), miso=m.Pin(19)))
        self.refused(sm.ESP32, lambda m: m.UART(1, tx=m.Pin(17), rx=m.Pin(16), txbuf=64))
        self.refused(sm.ESP32, lambda m: m.Pin(20, m.Pin.IN))
        m = sm.make(sm.ESP32)
        m.UART(1, tx=m.Pin(2), rx=m.Pin(16))  # TX on a strapping pin is allowed
        m.SPI(2, sck=m.Pin(18), mosi=m.Pin(23), miso=m.Pin(39))  # MISO may be input-only
        m.I2C(1, scl=m.Pin(26), sda=m.Pin(25))
        m.Pin(34, m.Pin.IN)


class MainTest(unittest.TestCase):
    def pick(self, platform):
        fake = sm.make(sm.ESP32 if platform == "esp32" else sm.RP2040)
        saved_platform = sys.platform
        saved_machine = _fake_machine(fake)
        try:
            import boards.chip as chip_mod

            chip_mod.DATA_DIR = ensure_build() + "/board_data"
            main = __import__("boards.main", None, None, ["make_board"])
            main.sys = FakeSys(platform)
            if platform in ("rp2", "esp32"):
                chip = "rp2040" if platform == "rp2" else platform
                __import__("boards.%s.board" % chip, None, None, ["Board"])
                sys.modules["boards.chip"].time = FakeTime
            return main.make_board(watchdog=False)
        finally:
            _machine_back(saved_machine)
            self.assertEqual(sys.platform, saved_platform)

    def test_picks_the_board_by_platform(self):
        self.assertEqual(self.pick("rp2").name, "rp2040")
        self.assertEqual(self.pick("esp32").name, "esp32")
        with self.assertRaises(RuntimeError):
            self.pick("linux")

    def test_what_main_imports_before_the_image_is_chosen_loads_no_firmware(self):
        # main.py imports boards.chip (DATA_DIR, LittleFs) before boot_image() puts an
        # updated image's folder first on sys.path: a firmware module loaded by that
        # import would come from the factory image whatever the update (so chip.py's
        # drivers are imported in chip_build.py, after). Firmware modules are taken out
        # of sys.modules for the import and put back as they were.
        import os

        tops = []
        for name in os.listdir(ROOT + "/firmware"):
            tops.append(name[:-3] if name.endswith(".py") else name)
        saved = {}
        for name in list(sys.modules):
            if name.split(".")[0] in tops:
                saved[name] = sys.modules.pop(name)
        saved_machine = _fake_machine(sm.make(sm.RP2040))
        try:
            import boards.chip  # noqa: F401
            import boards.main  # noqa: F401

            loaded = sorted(n for n in sys.modules if n.split(".")[0] in tops)
        finally:
            for name in list(sys.modules):
                if name.split(".")[0] in tops:
                    del sys.modules[name]
            sys.modules.update(saved)
            _machine_back(saved_machine)
        self.assertTrue(len(saved) > 10)  # (the firmware was loaded: the check means something)
        self.assertEqual(loaded, [])


class FakeSys:
    def __init__(self, platform):
        self.platform = platform


class LittleFsTest(unittest.TestCase):
    """The store on the chip boards' adapter: on a folder here (under MicroPython on a
    real littlefs, VfsLfs2 on a block device in RAM, as the boards mount their flash)."""

    def folder(self):
        import os

        if sys.implementation.name == "micropython":
            try:
                import vfs
            except ImportError:
                vfs = os
            dev = RamBlocks(64)
            vfs.VfsLfs2.mkfs(dev)
            mount = "/lfs_test"
            try:
                vfs.umount(mount)
            except OSError:
                pass
            vfs.mount(vfs.VfsLfs2(dev), mount)
            self.addCleanup(vfs.umount, mount)
            return mount + "/data"
        path = ensure_build() + "/lfs_test"
        for name in ("events0.bin", "events1.bin", "state.json", "state.tmp"):
            try:
                os.remove(path + "/" + name)
            except OSError:
                pass
        return path

    def test_store_round_trip(self):
        import os

        from bms.events import BOOT, EventLog

        saved = _fake_machine(sm.make(sm.RP2040))
        try:
            from boards.chip import LittleFs
        finally:
            _machine_back(saved)
        from drivers.store import Store

        fs = LittleFs(self.folder())
        store = Store(fs)
        log = EventLog()
        for k in range(300):
            log.log(k, BOOT, 1, k)
        store.append_events(log)
        store.save_state({"boots": 7})
        store.save_state({"boots": 8})  # the rename replaces the old state
        again = EventLog()
        n = Store(LittleFs(fs.root)).load_events(again)
        self.assertEqual(n, 256)
        self.assertEqual(again.get(299)[4], 299)
        self.assertEqual(again.next_seq, 300 + 32)  # on from the mark (drivers/store.py)
        self.assertEqual(Store(LittleFs(fs.root)).load_state(), {"boots": 8})
        # the rename replaced the file whole: it holds the second state alone
        with open(fs.root + "/state.json") as f:
            self.assertIn('{"boots": 8}', f.read())
        self.assertNotIn("state.tmp", os.listdir(fs.root))


class RamBlocks:
    """A block device in RAM (MicroPython's extended block protocol) for VfsLfs2."""

    SIZE = 512

    def __init__(self, blocks):
        self.data = bytearray(blocks * self.SIZE)
        self.blocks = blocks

    def readblocks(self, n, buf, off=0):
        a = n * self.SIZE + off
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        a = n * self.SIZE + (off or 0)
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.SIZE
        if op == 6:  # erase
            a = arg * self.SIZE
            self.data[a : a + self.SIZE] = b"\xff" * self.SIZE
            return 0
        return 0


class ReadmeTablesTest(unittest.TestCase):
    """README "Hardware": one wiring table per board, the same pins as the board file."""

    def table(self, title):
        text = read("README.md")
        start = text.index(title)
        rows = {}
        for line in text[start:].splitlines()[2:]:
            if not line.startswith("|"):
                if rows:
                    break
                continue
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if cells[0] in ("signal", "") or cells[0].startswith("-"):
                continue
            rows[cells[0]] = cells[1]
        return rows

    def check(self, chip, title, prefix):
        module, _board, _fake = build(chip)
        rows = self.table(title)
        self.assertEqual(sorted(rows), sorted(module.PINS))
        for name, pin in module.PINS.items():
            want = (prefix + str(pin)) if type(pin) is int else pin
            self.assertEqual(rows[name], want, name)

    def test_rp2040(self):
        self.check(sm.RP2040, "### Raspberry Pi Pico (RP2040)", "GP")

    def test_esp32(self):
        self.check(sm.ESP32, "### ESP32-DevKitC", "GPIO")
