"""Measurements taken inside one MicroPython process (run by tools/bench.py).

    micropython tools/bench_upy.py heap [MPYDIR]   heap used by the firmware after import
                                                   and boot (from MPYDIR's .mpy files, as a
                                                   board loads them, if given)
    micropython tools/bench_upy.py tick            tick time and allocation in steady state
    micropython tools/bench_upy.py comms           the inverter link: allocation per poll
                                                   (CAN set and RS485 answers), and the
                                                   RS485 server's time for a 0x42 request

Prints one JSON object. The simulated pack's own work (model integration, refreshing
the chip's registers) happens outside the measured region, as it is not firmware.
"""

import hostpath  # noqa: F401

import gc
import json
import sys
import time

N_TICKS = 1000


def _held():
    gc.collect()
    return gc.mem_alloc()


def _polls(pack):
    return pack.app.link.polls


def heap():
    """The heap the firmware holds, in three parts: its modules (imported as a board
    imports them, the ID0 codecs included), its objects after boot, and its objects
    after a minute in service with the inverter link running (the RS485 inverter polling
    port 1 and a CAN inverter on the bus, discharging at 20 A). The world's own growth
    over that minute (the inverters' records, the flash files) is measured with the pack
    off and left out."""
    a0 = _held()
    import app  # noqa: F401 - every module the firmware imports at once
    import inverter_link
    from protocols import pylon_rs485  # noqa: F401 - the RS485 server a board with a port runs

    inverter_link._load(0)  # the codecs a board with DIP ID0 loads at boot
    imports = _held() - a0
    from boards.host.world.engine import Simulator
    from boards.host.world.inverters import CanInverter
    from boards.host.world.scenario import validate

    sim = Simulator(validate({"inverter": "rs485", "events": [{"at_s": 0, "current_a": -20}]}))
    sim.bus.attach(CanInverter(sim.clock, "pylon"))
    pack = sim.packs[0]
    pack.power_off()
    world = _held()
    pack.power_on()
    sim.run(sim.t_ms)
    boot = _held() - world
    sim.run(sim.t_ms + 60000)
    service_abs = _held()
    # (read in a function of its own: `pack.app` evaluated here would stay in a dead
    # slot of this frame, which the GC scans, and keep the whole app alive after the
    # power-off, so that `service` came out as about 0: the bench's figures until stop
    # 25 counted no objects in service, and esp32_heap_free_pct_est flattered the chip)
    served = _polls(pack)
    pack.power_off()
    service = service_abs - _held()
    return {
        "heap_imports_bytes": imports,
        "heap_boot_bytes": imports + boot,
        "heap_service_bytes": imports + service,
        "heap_peak_bytes": imports + (service if service > boot else boot),
        "heap_service_rs485_polls": served,
    }


def steady_sim():
    """A pack in normal service: discharging 20 A, warmed up for 30 s."""
    from boards.host.world.engine import Simulator
    from boards.host.world.scenario import validate

    scenario = validate(
        {"inverter": "none", "initial": {"soc_pct": 60}, "events": [{"at_s": 0, "current_a": -20}]}
    )
    sim = Simulator(scenario)
    sim.run(30000)
    return sim, sim.packs[0]


def tick():
    sim, pack = steady_sim()
    app = pack.app
    chip = pack.chip
    clock = sim.clock
    times = []
    alloc = 0
    gc.collect()
    gc.disable()
    for i in range(N_TICKS):
        clock.advance(100)
        pack.step_to(clock.t_ms)
        chip.refresh()
        now = clock.ticks_ms()
        if i % 100 == 0:
            gc.collect()
        a = gc.mem_alloc()
        t0 = time.ticks_us()
        app.tick(now)
        t1 = time.ticks_us()
        alloc += gc.mem_alloc() - a
        times.append(time.ticks_diff(t1, t0))
    gc.enable()
    times.sort()
    return {
        "tick_us": times[len(times) // 2],
        "tick_us_p99": times[len(times) * 99 // 100],
        "alloc_bytes_per_tick": alloc / N_TICKS,
        "ticks_measured": N_TICKS,
    }


def comms():
    """The link between ticks, in service: the CAN inverter's heartbeat and our frames,
    and the RS485 inverter's polls, over 60 simulated seconds. Every call of the app's
    comms() is measured; the simulation around it is not."""
    from boards.host.world.engine import Simulator
    from boards.host.world.scenario import validate

    alloc = 0
    calls = 0
    for kind in ("can", "rs485"):
        sim = Simulator(validate({"inverter": kind, "events": [{"at_s": 0, "current_a": -20}]}))
        sim.run(10000)
        app = sim.packs[0].app
        real = app.comms
        box = [0, 0]

        def measured(now, real=real, box=box):
            a = gc.mem_alloc()
            wait = real(now)
            box[0] += gc.mem_alloc() - a
            box[1] += 1
            return wait

        app.comms = measured
        gc.collect()
        gc.disable()
        for k in range(60):
            sim.run(11000 + 1000 * k)
            gc.collect()
        gc.enable()
        alloc += box[0]
        calls += box[1]
    # the RS485 server answering python-pylontech's 0x42 request
    server = app.link.server
    frame = bytearray(b"20024642E00202FD33")
    b = app.bms
    now = sim.clock.ticks_ms()
    times = []
    for _ in range(200):
        t0 = time.ticks_us()
        server.handle(frame, len(frame), b, now)
        times.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    return {
        "alloc_bytes_per_comms_poll": alloc / calls,
        "comms_polls_measured": calls,
        "rs485_handle_0x42_us": times[len(times) // 2],
    }


def main(argv):
    what = argv[0] if argv else "tick"
    if what == "heap" and len(argv) > 1:
        sys.path.insert(0, argv[1])  # precompiled firmware ahead of the sources
    if what == "heap":
        result = heap()
    elif what == "comms":
        result = comms()
    else:
        result = tick()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
