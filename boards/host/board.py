"""The host board: one pack's pin map, buses and drivers, as a real board file has.

Where a real board builds machine.I2C and machine.Pin on GPIO numbers, this one builds
the host's machine layer on named pins. What sits on its buses comes from the simulated
world (boards/host/world/): the engine hands it the chips, the pack model and the RS485
wire end as constructor arguments, so the board never imports the world.
The firmware receives the same kind of object either way (see App.__init__).
"""

from boards.host import machine
from drivers.bq76952 import BQ76952
from drivers.drycontact import DryContact
from drivers.fets import Fets
from drivers.mcp2515 import MCP2515, RING_FRAMES
from drivers.panel import Panel
from drivers.rs485 import FRAME_MAX, Rs485
from drivers.store import Store

LED_PINS = ("LED_RUN", "LED_ALM", "LED_SOC1", "LED_SOC2", "LED_SOC3", "LED_SOC4", "LED_MS")
DIP_PINS = ("DIP1", "DIP2", "DIP3", "DIP4", "DIP5", "DIP6", "DIP7")
WDT_TIMEOUT_MS = 4000
R_SENSE_UOHM = 250  # the current shunt: 0.25 mOhm (400 A = 100 mV)
CAN_OSC_HZ = 8000000  # the MCP2515's crystal


class HostBoard:
    def __init__(
        self,
        clock,
        chip,
        model,
        flash,
        dip_bits=0,
        reset_cause=machine.PWRON_RESET,
        can_chip=None,
        link_port=None,
        link_out_port=None,
        unique_id=b"\xe6\x61\x41\x04\x03\x2b\x1a\x01",
    ):
        """flash: the pack's simulated flash filesystem (it outlives the board); can_chip:
        the simulated MCP2515 (on the simulator's CAN bus), or None for a board without
        one; link_port: the RS485 port 1 (Link IN) end of a simulated wire, or None;
        link_out_port: the RS485 port 2 (Link OUT) end, to the next pack, or None;
        unique_id: what machine.unique_id() gives (an RP2040's 8 bytes)."""
        self.clock = clock
        self.model = model
        self._reset_cause = reset_cause
        self._unique_id = unique_id
        self.pins = {}
        out = machine.Pin.OUT
        inp = machine.Pin.IN
        up = machine.Pin.PULL_UP
        leds = [self._pin(name, out) for name in LED_PINS]
        dip = [self._pin(name, inp, up) for name in DIP_PINS]
        self.set_dip(dip_bits)
        button = self._pin("BTN_RESET", inp, up)
        relay_chg = self._pin("RELAY_CHG", out)
        relay_dsg = self._pin("RELAY_DSG", out)
        passive = self._pin("IN_PASSIVE", inp, up)
        rsd = self._pin("IN_RSD", inp, up)
        self.reverse_in = self._pin("IN_REVERSE", inp, up)
        pre = self._pin("FET_PRECHARGE", out)
        pre.sim_listen(self._precharge_changed)
        # the chip's FET-off inputs: pulled up on the board, so they read off until driven
        cfetoff = self._pin("AFE_CFETOFF", out, value=1)
        dfetoff = self._pin("AFE_DFETOFF", out, value=1)
        chip.attach_fet_pins(cfetoff, dfetoff)
        self.i2c = machine.I2C(0, scl="I2C_SCL", sda="I2C_SDA", freq=400000, devices={0x08: chip})
        self.afe = BQ76952(self.i2c, r_sense_uohm=R_SENSE_UOHM)
        self.fets = Fets(cfetoff, dfetoff, pre, self.reverse_in)
        self.panel = Panel(leds, dip, button)
        self.dry = DryContact(relay_chg, relay_dsg, passive, rsd)
        self.wdt = machine.WDT(0, timeout=WDT_TIMEOUT_MS, clock=clock)
        self.store = Store(flash)
        self.can = None
        if can_chip is not None:
            cs = self._pin("CAN_CS", out, value=1)
            self.can_int = self._pin("CAN_INT", inp, up)
            can_chip.attach_int(self.can_int)
            self.spi = machine.SPI(1, baudrate=10000000, devices=[(cs, can_chip)])
            self.can = MCP2515(self.spi, cs, CAN_OSC_HZ, self.can_int, None, RING_FRAMES)
            # a soft interrupt, as on the chip boards: it runs at the firmware's next
            # bus transaction (machine.sim_run_scheduled)
            self.can_int.irq(self.can.irq_handler, machine.Pin.IRQ_FALLING)
        self.rs485 = self._rs485(1, "RS485_DE", link_port)
        self.rs485_out = self._rs485(2, "RS485_2_DE", link_out_port)

    def _rs485(self, uart_id, de_name, port):
        """An RS485 port on a wire end (None when nothing is wired there)."""
        if port is None:
            return None
        de = self._pin(de_name, machine.Pin.OUT, value=0)
        port.attach_de(de)
        # a transmit buffer as the boards' (UART_BUF): a write past it is cut and counted
        uart = machine.UART(uart_id, 9600, port=port, timeout=0, txbuf=FRAME_MAX)
        return Rs485(uart, de, txbuf=FRAME_MAX)

    def set_dip(self, bits):
        for i in range(len(DIP_PINS)):
            self.pins[DIP_PINS[i]].sim_drive(0 if bits & (1 << i) else None)  # ON grounds it

    def _pin(self, name, mode, pull=-1, value=None):
        pin = machine.Pin(name, mode, pull, value)
        self.pins[name] = pin
        return pin

    def _precharge_changed(self, pin, level):
        m = self.model
        m.set_fets(m.chg_on, m.dsg_on, bool(level))

    def ticks_ms(self):
        return self.clock.ticks_ms()

    def sleep_ms(self, ms):
        raise RuntimeError("the simulator moves time; App.run() is for real boards")

    def reset_cause(self):
        return self._reset_cause

    def unique_id(self):
        return self._unique_id

    restart_requested = False

    def restart(self):
        """What machine.reset() does on a board; the simulator reboots the firmware."""
        self.restart_requested = True

    # -- what the simulator reads back ------------------------------------------------
    def led_levels(self):
        return [self.pins[name].level for name in LED_PINS]
