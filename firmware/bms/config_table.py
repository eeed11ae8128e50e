"""The configuration table as people read it: every key with its default and range, and
the rules that keep a set consistent. bms/config.py packs it at import and then drops
this module, so its tuples do not stay in a board's heap.
"""

# key, default, lowest, highest. Grouped as in pack.md; "manual" marks the manual's numbers.
# A range stops at the manual's limit on the unsafe side (or at our derived default where
# that sits past it: DHTP 55 C, COCP 72 and 90 A): a setting may be stricter than the
# product, never looser, and the front end's backstops follow these keys too. So do the
# delays: the over-current steps' at the manual's, the cell and pack voltages' at the
# front end's own backstop (2 s: a longer one left the chip to act first, past the limit).
SPEC = (
    # the pack (manual: 100 Ah rated, 16 cells)
    ("capacity_mah", 100000, 10000, 250000),  # charge is counted in mAs: keep it < 2**30
    ("tick_ms", 100, 20, 1000),
    ("current_zero_ma", 500, 0, 5000),  # manual: below 0.5 A reported as 0 A
    ("effective_current_ma", 2000, 100, 20000),  # "effective" current for COVP/CUVP/SCP releases
    # cell and pack voltage protections
    ("covp_trip_mv", 3600, 3300, 3600),
    ("covp_delay_ms", 1000, 0, 2000),  # (the front end's own backstop: 2 s, +50 mV)
    ("covp_release_mv", 3400, 3000, 3600),
    ("covp_warn_mv", 3550, 3000, 3600),
    ("povp_trip_mv", 57600, 52800, 57600),  # manual: max 57.6 V
    ("povp_delay_ms", 1000, 0, 2000),
    ("povp_release_mv", 54400, 48000, 57600),
    ("povp_warn_mv", 56800, 48000, 57600),
    ("cuvp_trip_mv", 2800, 2800, 3200),
    ("cuvp_delay_ms", 1000, 0, 2000),  # (the front end's own backstop: 2 s, -300 mV)
    ("cuvp_release_mv", 3000, 2800, 3400),
    ("cuvp_warn_mv", 3000, 2800, 3400),
    ("puvp_trip_mv", 44800, 44800, 51200),  # manual: min 44.8 V
    ("puvp_delay_ms", 1000, 0, 2000),
    ("puvp_release_mv", 48000, 44800, 54400),
    ("puvp_warn_mv", 48000, 44800, 54400),
    # temperatures (cell sensors and ambient; MOS separately)
    ("chtp_trip_dc", 500, 300, 500),  # manual: charge up to 50 C
    ("chtp_delay_ms", 2000, 0, 60000),
    ("chtp_release_dc", 450, 200, 500),
    ("chtp_warn_dc", 450, 200, 500),
    ("dhtp_trip_dc", 550, 300, 550),
    ("dhtp_delay_ms", 2000, 0, 60000),
    ("dhtp_release_dc", 500, 200, 550),
    ("dhtp_warn_dc", 500, 200, 550),
    ("cltp_trip_dc", -50, -50, 100),  # manual: charge from -5 C
    ("cltp_delay_ms", 2000, 0, 60000),
    ("cltp_release_dc", 0, -50, 150),
    ("cltp_warn_dc", 0, -50, 150),
    ("dltp_trip_dc", -100, -100, 100),  # manual: discharge from -10 C
    ("dltp_delay_ms", 2000, 0, 60000),
    ("dltp_release_dc", -50, -100, 150),
    ("dltp_warn_dc", -50, -100, 150),
    ("mos_otp_trip_dc", 900, 600, 1250),
    ("mos_otp_delay_ms", 2000, 0, 60000),
    ("mos_otp_release_dc", 700, 300, 1250),
    ("mos_otp_warn_dc", 800, 300, 1250),
    # charge over-current: two steps, automatic release, lockout
    ("cocp1_trip_ma", 72000, 10000, 72000),
    ("cocp1_delay_ms", 10000, 0, 10000),
    ("cocp2_trip_ma", 90000, 10000, 90000),
    ("cocp2_delay_ms", 1000, 0, 1000),
    ("cocp_release_ms", 60000, 1000, 3600000),
    ("cocp_warn_ma", 60000, 10000, 72000),
    # discharge over-current (manual: 100 A continuous if the discharge started at or
    # below 30 C, else our 50 A; 101-119 A for 5 min; 120-200 A for 15 s)
    ("docp_cont_ma", 100000, 10000, 100000),
    ("docp_cont_hot_ma", 50000, 10000, 50000),
    ("docp_cont_temp_dc", 300, 0, 300),
    ("docp1_delay_ms", 300000, 0, 300000),
    ("docp2_trip_ma", 120000, 10000, 120000),
    ("docp2_delay_ms", 15000, 0, 15000),
    ("docp3_trip_ma", 200000, 10000, 200000),
    ("docp3_delay_ms", 500, 0, 500),
    ("docp_release_ms", 60000, 1000, 3600000),
    ("docp_warn_ma", 95000, 10000, 100000),
    ("ocp_lock_count", 3, 1, 3),
    ("ocp_lock_window_ms", 600000, 10000, 86400000),
    # short circuit: detected by the analog front end's hardware comparator
    ("scp_trip_ma", 400000, 100000, 1000000),
    ("scp_delay_us", 250, 15, 450),  # the chip's SCD delay field: 1..31, (n - 1) x 15 us
    # warnings: set at the warning value, cleared this far back inside it
    ("imbalance_warn_mv", 300, 10, 2000),
    ("warn_hyst_mv", 20, 0, 500),
    ("warn_hyst_pack_mv", 200, 0, 5000),
    ("warn_hyst_dc", 20, 0, 200),
    ("warn_hyst_ma", 5000, 0, 50000),
    ("warn_delay_ms", 1000, 0, 60000),  # a warning, like a protection, must hold this long
    # balancing
    ("balance_start_mv", 3400, 3000, 3650),
    ("balance_delta_mv", 30, 5, 500),  # pack.md: bleed cells above min + 30 mV...
    ("balance_stop_mv", 15, 0, 500),  # ...and keep bleeding one until min + 15 (hysteresis)
    ("balance_min_temp_dc", 0, -200, 400),  # no bleeding outside this window
    ("balance_max_temp_dc", 450, 0, 600),
    ("balance_max_cells", 8, 1, 8),  # never two neighbours, so 8 at most
    # sensor and MOS failures (released by RESET only)
    ("sensor_cell_low_mv", 1000, 0, 2500),
    ("sensor_cell_high_mv", 4500, 3700, 5000),
    ("sensor_ntc_open_dc", -400, -550, -200),
    ("sensor_ntc_short_dc", 1250, 900, 1500),
    ("sensor_sum_diff_mv", 2000, 200, 10000),
    ("sensor_offset_ma", 2000, 100, 10000),
    # (at most 3 s: a board whose readings stay invalid is reset by its watchdog 4 s after
    # the boot's end, which would come before the latch, and again at every boot)
    ("sensor_delay_ms", 3000, 0, 3000),
    ("afe_blind_ms", 300, 100, 3000),  # invalid readings this long open the FETs at once
    # a front end that keeps failing and coming back (resets, a loose bus, a cell read
    # outside physics now and then, a driver that raises) fails too: this many spells of
    # invalid readings or of the app's safe state after an exception, each starting
    # within afe_spell_window_ms of the last, make its readings count as invalid until
    # RESET (SENSOR_FAIL latches after sensor_delay_ms)
    ("afe_spell_count", 10, 2, 100),
    ("afe_spell_window_ms", 60000, 1000, 3600000),
    ("mos_fail_ma", 2000, 500, 20000),
    ("mos_fail_delay_ms", 2000, 100, 60000),
    # pre-charge of a capacitive inverter input before the discharge FET closes
    ("precharge_margin_mv", 2000, 200, 10000),
    ("precharge_timeout_ms", 3000, 100, 30000),
    ("precharge_tries", 3, 1, 10),
    # modes, inputs and the panel
    ("mode_debounce_ms", 1000, 0, 60000),  # a current-driven mode change must hold this long
    # FETs stay open this long after the first reading: every boot-time check (the
    # sensor failures, with their 3 s, among them) gets its full delay first
    ("boot_settle_ms", 3000, 0, 60000),
    ("charger_detect_mv", 1000, 100, 10000),  # PACK above the stack by this with FETs open
    (
        "passive_action",
        0,
        0,
        3,
    ),  # passive input: 0 log only, 1 stop charge, 2 stop discharge, 3 both
    # shorter presses are bounce (150 ms: two samples at the 100 ms tick; one sample, a
    # glitch on the line, cleared every latch and lockout as RESET does)
    ("button_min_ms", 150, 10, 1000),
    ("button_sleep_ms", 3000, 500, 10000),  # from here to button_restart_ms: sleep / wake
    # held this long: restart, the manual's "press RESET 6 s". Sooner than 6 s: a person
    # counting 6 s lets go about then, a 6.0 s press was seen on 5.9 s of samples, and
    # the sleep it gave opened a running pack's FETs (the load dropped, the panel dark)
    ("button_restart_ms", 5000, 1000, 30000),
    # two RESET presses within it: the service unlock (two samples each, and two released
    # samples between them: 600 ms at the least at the 100 ms tick)
    ("button_unlock_ms", 2000, 600, 5000),
    ("unlock_valid_ms", 600000, 60000, 3600000),  # how long the unlock lasts
    ("precharge_retry_ms", 2000, 0, 60000),  # pause between pre-charge tries
    ("inverter_lost_ms", 60000, 5000, 600000),
    # sleep (low-power mode)
    ("sleep_cuvp_ms", 1800000, 60000, 86400000),
    ("sleep_idle_ms", 172800000, 60000, 500000000),
    # SOC calibration to full
    ("full_cell_mv", 3450, 3350, 3650),
    ("full_current_ma", 5000, 500, 20000),
    ("full_hold_ms", 30000, 1000, 600000),
    ("soc_self_discharge_ma", 3, 0, 100),  # the cells' own leak, about 2 % a month
    # what the pack asks the inverter for (manual: inverter settings; pack.md)
    ("cvl_mv", 56000, 52000, 57600),  # absorption
    ("float_mv", 54600, 52000, 57600),
    ("float_exit_mv", 52000, 46000, 56000),  # the manual's re-start voltage
    ("dvl_mv", 48000, 44800, 52000),  # low voltage cut-off
    ("ccl_ma", 50000, 0, 70000),  # standard 50 A, at most 70 A
    ("dcl_ma", 50000, 0, 100000),  # standard 50 A, at most 100 A (50 A after a warm start)
    # CCL while the discharge FETs are open, DCL while the charge FETs are: the current
    # flows through their body diodes
    ("diode_ma", 10000, 1000, 100000),
    ("taper_start_mv", 3450, 3300, 3650),  # CCL falls from here on the highest cell...
    ("taper_end_mv", 3550, 3300, 3650),  # ...to ccl_taper_floor_pct of itself here
    ("ccl_taper_floor_pct", 10, 0, 100),
    # ...and from there to 0 here, short of COVP: a pack whose cells are apart reaches
    # CVL late, and its highest cell must not be pushed into COVP meanwhile
    ("ccl_zero_mv", 3580, 3300, 3800),
    ("dcl_taper_start_mv", 3100, 2900, 3300),  # DCL falls from here to 10 % at CUVP
    ("charge_cold_full_dc", 100, -100, 300),  # full charge current from here up
    ("discharge_cold_full_dc", 0, -200, 300),
    # force-charge request to the inverter (manual: low SOC cut-off 4 %)
    ("force_charge_soc_pct", 4, 0, 50),
    ("force_charge_cell_mv", 3000, 2500, 3300),
    ("force_charge_release_soc_pct", 8, 1, 60),
    # a board prints a status line on its USB console this often (statusline.py; 1000:
    # each second, the housekeeping beat); 0 = off
    ("console_status_ms", 0, 0, 60000),
)

# (a, relation, b): the set is consistent only when  a relation b  holds.
RULES = (
    ("covp_release_mv", "<", "covp_trip_mv"),
    ("covp_warn_mv", "<", "covp_trip_mv"),
    ("povp_release_mv", "<", "povp_trip_mv"),
    ("povp_warn_mv", "<", "povp_trip_mv"),
    ("cuvp_release_mv", ">", "cuvp_trip_mv"),
    ("cuvp_warn_mv", ">", "cuvp_trip_mv"),
    ("puvp_release_mv", ">", "puvp_trip_mv"),
    ("puvp_warn_mv", ">", "puvp_trip_mv"),
    # what the inverter is asked for, inside the pack's own protections (a POVP set
    # under CVL opened the charge FET at every full charge, a PUVP over DVL the discharge
    # FET at every empty one). (POVP over PUVP follows, with the rules on float_mv and
    # dvl_mv; COVP over CUVP from their ranges: no rule of their own, each costs a board
    # heap at boot)
    ("cvl_mv", "<", "povp_trip_mv"),
    ("puvp_trip_mv", "<", "dvl_mv"),
    ("chtp_release_dc", "<", "chtp_trip_dc"),
    ("chtp_warn_dc", "<=", "chtp_trip_dc"),
    ("dhtp_release_dc", "<", "dhtp_trip_dc"),
    ("dhtp_warn_dc", "<=", "dhtp_trip_dc"),
    ("cltp_release_dc", ">", "cltp_trip_dc"),
    ("cltp_warn_dc", ">=", "cltp_trip_dc"),
    ("dltp_release_dc", ">", "dltp_trip_dc"),
    ("dltp_warn_dc", ">=", "dltp_trip_dc"),
    ("mos_otp_release_dc", "<", "mos_otp_trip_dc"),
    ("mos_otp_warn_dc", "<=", "mos_otp_trip_dc"),
    # (the NTC-short row reads the MOSFET sensor too: a hot FET latched SENSOR_FAIL)
    ("mos_otp_trip_dc", "<", "sensor_ntc_short_dc"),
    ("cocp1_trip_ma", "<", "cocp2_trip_ma"),
    ("cocp2_delay_ms", "<=", "cocp1_delay_ms"),
    ("cocp_warn_ma", "<=", "cocp1_trip_ma"),
    ("docp_cont_hot_ma", "<=", "docp_cont_ma"),
    ("docp_cont_ma", "<", "docp2_trip_ma"),
    ("docp2_trip_ma", "<", "docp3_trip_ma"),
    ("docp2_delay_ms", "<=", "docp1_delay_ms"),
    ("docp3_delay_ms", "<=", "docp2_delay_ms"),
    ("docp_warn_ma", "<=", "docp_cont_ma"),
    ("docp3_trip_ma", "<", "scp_trip_ma"),
    # a steady over-current trips, releases and trips again a step's delay later: within
    # the lockout window, so that its trips are consecutive and lock (bms/protect.py)
    ("cocp1_delay_ms", "<", "ocp_lock_window_ms"),
    ("docp1_delay_ms", "<", "ocp_lock_window_ms"),
    ("sensor_cell_low_mv", "<", "cuvp_trip_mv"),
    ("sensor_cell_high_mv", ">", "covp_trip_mv"),
    ("balance_start_mv", "<", "covp_trip_mv"),
    ("full_cell_mv", "<", "covp_trip_mv"),
    ("force_charge_soc_pct", "<", "force_charge_release_soc_pct"),
    ("balance_min_temp_dc", "<", "balance_max_temp_dc"),
    ("balance_stop_mv", "<", "balance_delta_mv"),
    ("float_mv", "<", "cvl_mv"),
    ("float_exit_mv", "<", "float_mv"),
    ("dvl_mv", "<", "float_exit_mv"),
    ("taper_start_mv", "<", "taper_end_mv"),
    ("taper_end_mv", "<", "ccl_zero_mv"),
    ("ccl_zero_mv", "<", "covp_trip_mv"),
    ("dcl_taper_start_mv", ">", "cuvp_trip_mv"),
    ("charge_cold_full_dc", ">", "cltp_trip_dc"),
    ("discharge_cold_full_dc", ">", "dltp_trip_dc"),
    ("sensor_delay_ms", "<=", "boot_settle_ms"),
    # a row whose value may stand past its trip at a boot has tripped before the FETs
    # first close (a 10 s CHTP delay closed the charge FET at 52 C for 7 s after a start;
    # a service restart is refused only while a row waits for its release)
    ("covp_delay_ms", "<=", "boot_settle_ms"),
    ("povp_delay_ms", "<=", "boot_settle_ms"),
    ("cuvp_delay_ms", "<=", "boot_settle_ms"),
    ("puvp_delay_ms", "<=", "boot_settle_ms"),
    ("chtp_delay_ms", "<=", "boot_settle_ms"),
    ("dhtp_delay_ms", "<=", "boot_settle_ms"),
    ("cltp_delay_ms", "<=", "boot_settle_ms"),
    ("dltp_delay_ms", "<=", "boot_settle_ms"),
    ("mos_otp_delay_ms", "<=", "boot_settle_ms"),
    ("afe_blind_ms", "<=", "sensor_delay_ms"),
    ("button_min_ms", "<", "button_sleep_ms"),
    ("button_sleep_ms", "<", "button_restart_ms"),
    ("button_min_ms", "<", "button_unlock_ms"),
    ("warn_hyst_mv", "<", "imbalance_warn_mv"),
    # (else a current warning's release is at or below 0 A, and it holds for ever)
    ("warn_hyst_ma", "<", "cocp_warn_ma"),
    ("warn_hyst_ma", "<", "docp_warn_ma"),
    # (else a charge through the open discharge FET is never seen: the diode guard and
    # the releases on effective charge current wait for it, bms/core.py)
    ("effective_current_ma", "<", "diode_ma"),
)
