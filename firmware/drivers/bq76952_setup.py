"""The BQ76952's setup: finding the chip and its I2C mode, writing our data memory and
reading it back, handing it the FETs; and the reads only the setup, the self-test and the
tests make (subcommand responses, data memory, the device number). Needed at boot and
after the chip was reset (or lost), so drivers/bq76952.py loads this module for it and
drops it again: its code does not stay in a board's heap in service.
"""

from micropython import const

from drivers.bq76952 import (
    BS_POR,
    BS_UNCONFIGURED,
    DEVICE_NUMBER_ID,
    POLLS,
    SUB_DEVICE_NUMBER,
    SUB_EXIT_CFGUPDATE,
    SUB_FET_ENABLE,
    SUB_MANUFACTURING_STATUS,
    SUB_SET_CFGUPDATE,
    SUB_SLEEP_DISABLE,
    SUB_SWAP_COMM_MODE,
    data_memory,
)

# drivers/bq76952.py's direct commands (private there: a board interns no name for them)
_CMD_SUBCMD = const(0x3E)
_CMD_BUFFER = const(0x40)
_MFG_FET_EN = const(0x10)
_BS_CFGUPDATE = const(0x01)
_BS_SLEEP_EN = const(0x04)  # the chip may enter SLEEP (measurements every few seconds)

# a data-memory or subcommand response (twice the size for CRC mode: data, CRC, ...), and
# the views read into (data only, or with the CRCs): the module's, made as it is loaded for
# a setup and freed with it, since service reads no response
_block = bytearray(64)
_block_v = (memoryview(_block)[:32], memoryview(_block))


def probe(drv):
    """Find the chip: its Battery Status and device number, in the mode we speak, then
    in the other. A chip that has answered in CRC mode is taken without CRC only when
    it shows POR (it was reset, so its CRC mode went with our configuration); a noisy
    bus is not a reset. Whenever the chip's mode or POR says our configuration is
    gone, `configured` drops and no reading is given until configure() has run."""
    mode = drv.crc
    for crc in (mode, not mode):
        drv.crc = crc
        status = _identify(drv)
        if status < 0 or (crc != mode and drv.crc_seen and not status & BS_POR):
            continue
        if crc:
            drv.crc_seen = True
        elif status & BS_POR:
            drv.crc_seen = False
        if crc != mode or status & BS_UNCONFIGURED:
            drv.configured = False
        return True
    drv.crc = mode  # no answer: the chip's mode is still the one we knew
    return False


def _identify(drv):
    """Battery Status if the chip answers with its device number, else -1. (Read
    without CRC, a chip in CRC mode gives data/CRC pairs that the status read cannot
    tell from data; the device number needs a write, which such a chip NACKs.)"""
    status = drv.battery_status()
    if status is None or device_number(drv) != DEVICE_NUMBER_ID:
        return -1
    return status


def configure(drv, cfg):
    """Write our data memory in CONFIG_UPDATE, leave it, read every value back, and
    switch to CRC mode. True only if all of it worked."""
    drv.configured = False
    table = data_memory(cfg, drv.r_sense_uohm)
    if not drv.subcommand(SUB_SET_CFGUPDATE) or not _status_bit(drv, _BS_CFGUPDATE, True):
        return False
    for address, data in table:
        if not drv.dm_write(address, data):
            drv.subcommand(SUB_EXIT_CFGUPDATE)
            return False
    if not drv.subcommand(SUB_EXIT_CFGUPDATE) or not _status_bit(drv, _BS_CFGUPDATE, False):
        return False
    for address, data in table:
        if not subcommand_read(drv, address, 32):
            return False
        for k in range(len(data)):
            if response(drv, k) != data[k]:
                return False
    # SLEEP would measure only every few seconds at rest: a stale reading that passes
    # every check. (Power Config[SLEEP] is read at power-up only; a reset sets POR and
    # brings us back here.)
    if not drv.subcommand(SUB_SLEEP_DISABLE) or not _status_bit(drv, _BS_SLEEP_EN, False):
        return False
    if not drv.crc:
        if not drv.subcommand(SUB_SWAP_COMM_MODE):
            return False
        drv.crc = True
    # the first answer in CRC mode: from here on only a reset (POR) leaves it
    drv.configured = device_number(drv) == DEVICE_NUMBER_ID
    if drv.configured:
        drv.crc_seen = True
    return drv.configured


def _status_bit(drv, bit, want):
    for _ in range(POLLS):
        status = drv.battery_status()
        if status is not None and bool(status & bit) == want:
            return True
    return False


def enable_fet_control(drv):
    """Put the FETs under the chip's own logic (FET_EN) with no host override over
    I2C: from then on the CFETOFF/DFETOFF pins and the chip's protections decide."""
    if not drv.set_fets(True, True):
        return False
    toggles = 2
    while subcommand_read(drv, SUB_MANUFACTURING_STATUS, 2):
        if response(drv, 0) & _MFG_FET_EN:
            return True
        if not toggles:
            break
        # FET_ENABLE toggles FET_EN: what it did is read back, not assumed (a write the
        # chip took, resent after a lost ACK, toggled it back off: the FETs stayed open
        # with every reading good, and nothing in service looked)
        if drv.subcommand(SUB_FET_ENABLE):
            _wait(drv, SUB_FET_ENABLE)  # (status read before the toggle took: again)
        toggles -= 1
    return False


# -- the reads: subcommand responses, data memory, the device number --------------------
def response(drv, k):
    """Byte k of the last subcommand or data-memory response."""
    return drv._value(_block, k)


def subcommand_read(drv, sub, n):
    """Issue a read subcommand (or a data-memory read: sub is its address); its first n
    response bytes land in the response buffer (response())."""
    if not drv.subcommand(sub) or not _wait(drv, sub):
        return False
    views = _block_v
    if n != 32:
        views = (memoryview(_block)[:n], memoryview(_block)[: 2 * n])
    return drv._raw_read(_CMD_BUFFER, views)


def _wait(drv, sub):
    """Poll 0x3E/0x3F until the chip echoes the subcommand (done)."""
    for _ in range(POLLS):
        if drv._raw_read(_CMD_SUBCMD, drv._two_v):
            b = drv._two
            if drv._value(b, 0) | drv._value(b, 1) << 8 == sub:
                return True
    return False


def device_number(drv):
    """The chip's device number (DEVICE_NUMBER_ID), or None."""
    if not subcommand_read(drv, SUB_DEVICE_NUMBER, 2):
        return None
    return response(drv, 0) | response(drv, 1) << 8
