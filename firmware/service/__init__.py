"""The service link: reads, configuration and firmware update for a person with a laptop.

Loaded on the first service frame, never at boot: the tick does not pay for it.
"""
