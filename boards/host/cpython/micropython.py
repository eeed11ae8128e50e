"""The parts of MicroPython's `micropython` module that firmware uses, for CPython.

Only on sys.path under CPython (tools/hostpath.py); MicroPython has the real one built in.
"""


def const(value):
    return value


def native(func):
    return func


def viper(func):
    return func


def heap_lock():
    return 0


def heap_unlock():
    return 0


def schedule(func, arg):
    func(arg)
