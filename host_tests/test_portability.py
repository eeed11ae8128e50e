"""The rules that keep the firmware portable and the core pure, checked on the source."""

import unittest

from support import listdir_py, read

FORBIDDEN_IN_CORE = ("machine", "time", "utime", "os", "network", "socket", "select", "boards")
NOT_IN_MICROPYTHON = ("dataclasses", "enum", "typing", "abc")


def imports(text):
    """(module, line) for every import statement in the text."""
    out = []
    for line in text.splitlines():
        words = line.strip().split()
        if len(words) >= 2 and words[0] in ("import", "from"):
            out.append((words[1].split(".")[0].rstrip(","), line))
    return out


class PortabilityTest(unittest.TestCase):
    def test_core_is_pure(self):
        files = listdir_py("firmware/bms")
        self.assertTrue(files)
        for path in files:
            for module, line in imports(read(path)):
                self.assertNotIn(module, FORBIDDEN_IN_CORE, "%s: %s" % (path, line))
                # sys: only its module registry (bms.config drops its table module);
                # collections: namedtuple, one block a record (bms/protection_rows.py);
                # gc: a collection before a module is loaded again (bms/lazy.py)
                allowed = ("micropython", "bms", "array", "sys", "collections", "gc")
                self.assertIn(module, allowed, "%s: %s" % (path, line))

    def test_no_property_in_the_core(self):
        # a property (or any descriptor) on a class makes MicroPython look through the
        # class at every attribute store on its instances: on the core's, which store
        # every tick, 34 000 cycles a tick on an RP2040 (Soc.q_mah as a property did)
        for path in listdir_py("firmware/bms"):
            for line in read(path).splitlines():
                self.assertNotIn("@property", line, path)
                self.assertNotIn("__set__", line, path)

    def test_drivers_and_protocols_take_their_buses_and_never_import_a_board(self):
        for path in listdir_py("firmware/drivers") + listdir_py("firmware/protocols"):
            for module, line in imports(read(path)):
                self.assertNotIn(module, ("machine", "boards", "time"), "%s: %s" % (path, line))

    def test_micropython_subset(self):
        for path in listdir_py("firmware"):
            text = read(path)
            for module, line in imports(text):
                self.assertNotIn(module, NOT_IN_MICROPYTHON, "%s: %s" % (path, line))
            self.assertNotIn(":=", text, path)
            self.assertNotIn("ModuleNotFoundError", text, path)
            for line in text.splitlines():
                self.assertFalse(line.strip().startswith("match "), path)

    def test_every_module_says_what_it_owns(self):
        for folder in ("firmware", "boards", "tools"):
            for path in listdir_py(folder):
                if path.startswith("tools/upy/") or path.endswith("/micropython.py"):
                    continue
                text = read(path).lstrip()
                self.assertTrue(text.startswith('"""'), "%s has no docstring at the top" % path)

    def test_no_true_division_or_float_literal_in_the_core(self):
        # a cheap guard on code lines (docstrings, comments and strings skipped)
        import re

        float_literal = re.compile(r"[^\w.][0-9]+\.[0-9]")
        for path in listdir_py("firmware/bms"):
            in_doc = False
            for n, line in enumerate(read(path).splitlines()):
                if line.count('"""') == 1:
                    in_doc = not in_doc
                    continue
                code = line.split("#")[0]
                if in_doc or '"' in code or "'" in code:
                    continue
                where = "%s:%d" % (path, n + 1)
                self.assertNotIn(" / ", code, where + " true division")
                self.assertIsNone(float_literal.search(" " + code), where + " float literal")
