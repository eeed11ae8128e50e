"""The monitor's output: one line per frame, or the rich table of the latest values.

A sink takes decoded frames (monitor_decode_can.CanFrame, monitor_decode_rs485.Rs485Frame)
through add() and is closed once at the end. rich is imported only for the table.
"""

import sys

from monitor_decode_can import CanFrame


class LineSink:
    """One line per frame."""

    def __init__(self, out):
        self.out = out

    def add(self, frame):
        self.out.write(frame.text() + "\n")
        self.out.flush()

    def close(self):
        pass


class TableSink:
    """The latest decoded values of every frame (CAN id, RS485 ADR and command), in place."""

    def __init__(self, out, live):
        from rich.console import Console

        self.rows = {}
        # a terminal sets its own width; a file or a test's buffer gets a fixed one
        self.console = Console(file=out, width=None if out is sys.stdout else 160)
        self.live = None
        if live:
            from rich.live import Live

            self.live = Live(self._table(), console=self.console, refresh_per_second=4)
            self.live.start()

    def _table(self):
        from rich.table import Table

        table = Table(show_lines=False, expand=False)
        for col in ("time", "id", "frame", "values", "!"):
            table.add_column(col, overflow="fold")
        for key in sorted(self.rows, key=repr):
            table.add_row(*self.rows[key])
        return table

    def add(self, frame):
        head = frame.text().split(" ")[0]
        if isinstance(frame, CanFrame):
            ident, name = frame.id_text, frame.name
        else:
            ident = "RS485 %s" % ("?" if frame.adr is None else "%02X" % frame.adr)
            name = "%s %s" % ("reply" if frame.is_reply else "request", frame.name)
        values = " ".join("%s %s" % f for f in frame.fields)
        self.rows[frame.key()] = (head, ident, name, values, " ".join(frame.problems))
        if self.live is not None:
            self.live.update(self._table())

    def close(self):
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()
        else:
            self.console.print(self._table())
