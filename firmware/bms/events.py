"""The event log: a fixed-size ring of integer records with a running sequence number.

A record is (seq, t_ms, code, what, value, extra): `code` says what happened (a trip, a
mode change...), `what` which protection, mode or input, and `value`/`extra` the
measurements that caused it. Logging writes into preallocated lists, so it is safe in
the tick. Readers (the trace, persistence, the protocols) ask for records after a
sequence number they remember; if they fall more than SIZE behind they see the gap.
A boot skips the numbers the last life may have used without writing them to flash
(drivers/store.py); those slots read as SKIPPED records, which readers pass over.
"""

from micropython import const

from bms import lazy

_SIZE = const(256)

# codes
SKIPPED = const(0)  # a number skipped at a boot: no event has it
BOOT = const(1)  # what: reset cause, value: boot count
MODE = const(2)  # what: new mode, value: old mode, extra: changes not logged (bms.core)
TRIP = const(3)  # what: protection, value: the measurement, extra: cell/sensor index
RELEASE = const(4)  # what: protection, value: the measurement, extra: release path
LOCK = const(5)  # what: protection, value: trips in the window
LATCH = const(6)  # what: protection
WARN = const(7)  # what: warning, value: the measurement
WARN_CLEAR = const(8)  # what: warning
DIP = const(9)  # what: DIP bits read at boot, value: bits in use (differs = change pending)
RESET = const(10)  # what: button action, value: hold time ms
EXCEPTION = const(11)  # what: where (tick stage), value: count
# (at app.STAGE_STORE, storage trouble handled: value the store's error count, extra the
# app.STORE_* operation when it starts failing, minus it when it works again)
# what: 0 accepted / 1 refused (defaults kept) / CONFIG_STATE...; value: how many keys, or
# at 1, -1: the config stored over the service link unreadable, -2: the board's config.json
CONFIG = const(12)
INPUT = const(13)  # what: input (passive/rsd), value: new level
SENSOR = const(14)  # what: 0 probe failed, 1 configured, 2 readings lost, 3 back,
# 4 failing (spells of invalid readings: bms.core); value: ms lost (2, 3), spells (4)
PRECHARGE = const(15)  # what: started/done/timed out/cut short, value: ld_mv, extra: try
SOC = const(16)  # what: calibration kind, value: new SOC 0.01 %, extra: old
LIMIT = const(17)  # what: bms.limits LIM_* request, value: 1 on / 0 off, extra: SOC 0.01 %
COMM = const(18)  # what: COMM_*, value: 1 up / 0 failed (bus-off: the episode count)
# the front end's own protections: value: Safety Status A|B<<8|C<<16, extra: before
AFE_SAFETY = const(19)
UPDATE = const(20)  # a firmware image: what service.image.ARMED/TRIAL/CONFIRMED/ROLLED_BACK
# CONFIG's what: persisted state values of the wrong type or range dropped (value: how many)
CONFIG_STATE = const(2)
CONFIG_SERVICE = const(3)  # a key written over the service link: value, extra the key's index
CONFIG_CLEARED = const(4)  # the log cleared over the service link: value the last seq cleared
# event records on flash no firmware wrote (a number or code out of line) dropped at boot
CONFIG_EVENTS = const(5)  # value: how many
# COMM's what
COMM_CAN = const(0)  # the CAN controller started (1) or failed (0; extra: driver fault code)
# (1 with extra -n: after n failures not logged, it has run a minute clean: app.py)
COMM_INVERTER = const(1)  # the inverter is heard (again); its loss is a warning
COMM_BUS_OFF = const(2)  # the CAN controller went bus-off (extra: its error count)
COMM_PACK = const(3)  # a pack on the pack link: value 1 back / 0 lost, extra its address
# this pack's chain address changed: value the address, extra 1 master (0 slave); on a
# master, extra 2: another master's pack-link frames, 3: another BMS's limits to the
# inverter heard while alone (packlink.py)
COMM_ROLE = const(4)
# the master's table of the system: value 0 no room in the heap for it (the inverter asked
# for no current meanwhile) / 1 made after that; extra the tries refused so far
COMM_SYSTEM = const(5)

NAMES = (
    "SKIPPED",
    "BOOT",
    "MODE",
    "TRIP",
    "RELEASE",
    "LOCK",
    "LATCH",
    "WARN",
    "WARN_CLEAR",
    "DIP",
    "RESET",
    "EXCEPTION",
    "CONFIG",
    "INPUT",
    "SENSOR",
    "PRECHARGE",
    "SOC",
    "LIMIT",
    "COMM",
    "AFE_SAFETY",
    "UPDATE",
)


class EventLog:
    def __init__(self, size=_SIZE):
        """A ring of `size` records. The body (every attribute, commented) is in
        bms/parts_init.py, loaded for it and dropped after: a board builds its log once,
        at boot."""
        lazy.run("bms.parts_init", "event_log", self, size)

    def log(self, t_ms, code, what=0, value=0, extra=0):
        i = self.next_seq % self.size
        self.t_ms[i] = t_ms
        self.code[i] = code
        self.what[i] = what
        self.value[i] = value
        self.extra[i] = extra
        self.next_seq += 1

    def oldest_seq(self):
        n = self.next_seq - self.size
        return n if n > self.floor else self.floor

    def clear(self):
        """Forget every record; the sequence numbers go on from where they were."""
        self.floor = self.next_seq

    def get(self, seq):
        """The record with this sequence number as a tuple, or None if overwritten or unborn."""
        if seq < self.oldest_seq() or seq >= self.next_seq:
            return None
        i = seq % self.size
        return (seq, self.t_ms[i], self.code[i], self.what[i], self.value[i], self.extra[i])
