"""The host's machine layer keeps MicroPython's semantics."""

import errno
import unittest

from boards.host import machine
from boards.host.clock import SimClock


class PinTest(unittest.TestCase):
    def test_output_value_forms(self):
        p = machine.Pin("X", machine.Pin.OUT)
        self.assertEqual(p.value(), 0)
        p.on()
        self.assertEqual(p.value(), 1)
        p(0)
        self.assertEqual(p(), 0)
        p.value(5)
        self.assertEqual(p.value(), 1)

    def test_input_pull_and_drive(self):
        p = machine.Pin("Y", machine.Pin.IN, machine.Pin.PULL_UP)
        self.assertEqual(p.value(), 1)
        p.sim_drive(0)
        self.assertEqual(p.value(), 0)
        p.sim_drive(None)
        self.assertEqual(p.value(), 1)

    def test_irq_on_edges(self):
        seen = []
        p = machine.Pin("Z", machine.Pin.IN, machine.Pin.PULL_UP)
        p.irq(lambda pin: seen.append(pin.value()), machine.Pin.IRQ_FALLING, hard=True)
        p.sim_drive(0)
        p.sim_drive(None)
        self.assertEqual(seen, [0])

    def test_soft_irq_runs_at_the_next_bus_transaction(self):
        seen = []
        p = machine.Pin("S", machine.Pin.IN, machine.Pin.PULL_UP)
        p.irq(lambda pin: seen.append(pin.value()), machine.Pin.IRQ_FALLING)
        p.sim_drive(0)
        p.sim_drive(None)
        p.sim_drive(0)  # due already: queued once, as the scheduler's queue holds it
        self.assertEqual(seen, [])
        machine.SPI(0).write_readinto(bytearray(1), bytearray(1))
        self.assertEqual(seen, [0])
        p.sim_drive(None)
        p.sim_drive(0)
        machine.I2C(0, devices={}).scan()  # not a transaction
        self.assertEqual(seen, [0])
        self.assertEqual(machine.sim_run_scheduled(), 1)
        self.assertEqual(seen, [0, 0])
        self.assertEqual(machine.sim_run_scheduled(), 0)

    def test_listener_sees_changes_only(self):
        seen = []
        p = machine.Pin("L", machine.Pin.OUT)
        p.sim_listen(lambda pin, level: seen.append(level))
        p.value(1)
        p.value(1)
        p.value(0)
        self.assertEqual(seen, [1, 0])


class Echo:
    def __init__(self):
        self.regs = bytearray(16)

    def i2c_read(self, reg, buf):
        for i in range(len(buf)):
            buf[i] = self.regs[reg + i]

    def i2c_write(self, reg, data):
        self.regs[reg : reg + len(data)] = data


class I2CTest(unittest.TestCase):
    def test_read_write_and_scan(self):
        dev = Echo()
        i2c = machine.I2C(0, devices={0x08: dev})
        self.assertEqual(i2c.scan(), [0x08])
        i2c.writeto_mem(0x08, 2, b"\x01\x02")
        buf = bytearray(3)
        i2c.readfrom_mem_into(0x08, 1, buf)
        self.assertEqual(bytes(buf), b"\x00\x01\x02")
        self.assertEqual(i2c.readfrom_mem(0x08, 2, 2), b"\x01\x02")
        i2c.writeto(0x08, b"\x05\x09")
        self.assertEqual(dev.regs[5], 9)

    def test_absent_device_raises_oserror(self):
        i2c = machine.I2C(0)
        with self.assertRaises(OSError) as ctx:
            i2c.readfrom_mem_into(0x08, 0, bytearray(2))
        self.assertEqual(ctx.exception.args[0], errno.ENODEV)


class Recorder:
    def __init__(self):
        self.transfers = []
        self.ends = 0

    def spi_transfer(self, wbuf, rbuf):
        self.transfers.append(bytes(wbuf))
        if rbuf is not None:
            for i in range(len(rbuf)):
                rbuf[i] = wbuf[i] ^ 0xFF

    def spi_end(self):
        self.ends += 1


class SPITest(unittest.TestCase):
    def test_chip_select_routes_transfers(self):
        cs = machine.Pin("CS", machine.Pin.OUT, value=1)
        dev = Recorder()
        spi = machine.SPI(0, devices=[(cs, dev)])
        spi.write(b"\x01")  # not selected: nobody hears it
        self.assertEqual(dev.transfers, [])
        cs(0)
        rx = bytearray(2)
        spi.write_readinto(b"\x0f\xf0", rx)
        cs(1)
        self.assertEqual(dev.transfers, [b"\x0f\xf0"])
        self.assertEqual(bytes(rx), b"\xf0\x0f")
        self.assertEqual(dev.ends, 1)

    def test_unselected_miso_floats_high(self):
        spi = machine.SPI(0)
        self.assertEqual(spi.read(2), b"\xff\xff")


class WDTTest(unittest.TestCase):
    def test_expires_only_without_feed(self):
        clock = SimClock()
        wdt = machine.WDT(0, timeout=1000, clock=clock)
        clock.advance(900)
        wdt.feed()
        clock.advance(1000)
        self.assertFalse(wdt.sim_expired())
        clock.advance(1)
        self.assertTrue(wdt.sim_expired())


class ClockTest(unittest.TestCase):
    def test_ticks_wrap_like_the_board(self):
        clock = SimClock(start_ticks=(1 << 30) - 50)
        clock.advance(100)
        self.assertEqual(clock.ticks_ms(), 50)
        self.assertEqual(clock.t_ms, 100)
