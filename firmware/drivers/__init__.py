"""Drivers: one module per chip or peripheral, each taking its bus or pins in the constructor."""
