"""The chip boards' main.py: picks the board from sys.platform and runs the firmware.

`make flash` copies it to the board's root as main.py, beside the firmware and the one
board file of the bundle (build/bundle/BOARD/). Config overrides, if any, are a JSON
object in config.json on the board (for example {"console_status_ms": 1000}): refused ones
are logged and the defaults kept, as App does on the host. tools/selftest.py imports
this module for make_board() (the name is then "main", so nothing runs).
"""

import sys

CONFIG_FILE = "config.json"


def make_board(watchdog=True):
    if sys.platform == "rp2":
        from boards.rp2040.board import Board
    elif sys.platform == "esp32":
        from boards.esp32.board import Board
    else:
        raise RuntimeError("no board file for platform " + sys.platform)
    return Board(watchdog)


def config_overrides(fs=None):
    """The board's config.json as a dict, or None (absent or unreadable: defaults). fs: a
    filesystem object with open() instead of the board's own (the host's flash model)."""
    import json

    try:
        with (fs.open if fs else open)(CONFIG_FILE) as f:
            values = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return values if type(values) is dict else None


def main():
    from app import App

    App(make_board(), config_overrides()).run()


if __name__ == "__main__":
    main()
