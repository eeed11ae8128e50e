"""The chip boards' main.py: picks the board from sys.platform and runs the firmware.

`make flash` copies it to the board's root as main.py, beside the firmware and the one
board file of the bundle (build/bundle/BOARD/). Config overrides, if any, are a JSON
object in config.json on the board (for example {"console_status_ms": 1000}): refused ones
are logged and the defaults kept, as App does on the host. tools/selftest.py imports
this module for make_board() (the name is then "main", so nothing runs).

It is also the boot loader of firmware updates (firmware/service/image.py): before the
firmware is imported it reads the pointer file on the data folder and puts the chosen
image's folder first on sys.path (none: the factory image at the root); a new image on
trial that raised at boot is rolled back and the board restarted. main.py itself is
never replaced over the link.
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
    """The board's config.json as a dict; None without one; False for one that is not a
    JSON object (the boot logs it, CONFIG 1 -2, and keeps the defaults). fs: a filesystem
    object with open() instead of the board's own (the host's flash model)."""
    import json

    try:
        with (fs.open if fs else open)(CONFIG_FILE) as f:
            values = json.loads(f.read())
    except OSError:
        return None
    except ValueError:  # (a UnicodeError too, on both runtimes)
        return False
    return values if type(values) is dict else False


def boot_image(fs, root):
    """Pick the image (service/image.py: a trial counted, or rolled back; on a flash that
    takes no write, the image before a trial) and put its folder, under root, first on
    sys.path; returns the folder ("": the factory image) and the pointer."""
    import sys  # (the module's own may be a test's stand-in)

    from service import image

    folder, pointer = image.choose(fs)
    # the chosen image's own modules from here on: these were the factory's, imported
    # to read the pointer (main() imports boards.chip for the flash); left here, an
    # image's own board files (shipped, their hashes checked) would never run. (The
    # factory's boards.chip stays in the heap while main() holds its flash object,
    # about 1.4 KB on an RP2040: only when an image runs.)
    names = ("service.image", "service", "boards.chip", "boards")
    for name in names if folder else names[:2]:
        if name in sys.modules:
            del sys.modules[name]
    if folder:
        sys.path.insert(0, root + "/" + folder)
    return folder, pointer


def boot_failed(fs, folder, pointer, why):
    """The firmware raised before running: the new image on trial that raised (folder
    is the image that ran) is rolled back (True; False on a flash that takes no write)."""
    from service import image

    if not image.read(fs).get("trial") or folder != pointer.get("image"):
        return False
    try:
        image.rollback(fs, pointer, "exception at boot: " + why)
    except OSError:
        return False
    return True


def main():
    import machine

    from boards.chip import DATA_DIR, LittleFs

    fs = LittleFs()
    folder, pointer = boot_image(fs, DATA_DIR)
    try:
        from app import App

        board = make_board()
        board.image = folder  # the image running: only its own trial is watched (App)
        App(board, config_overrides()).run()
    except Exception as e:
        if boot_failed(fs, folder, pointer, repr(e)):
            machine.reset()
        raise


if __name__ == "__main__":
    main()
