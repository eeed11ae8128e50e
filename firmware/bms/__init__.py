"""The pure core of the BMS: measurements and the time in, decisions out.

Nothing here touches hardware, reads a clock or does I/O; app.py feeds it.
"""
