"""A text progress bar for long commands: redrawn in place on a terminal, a line every 10% otherwise."""
import sys
import time


class Progress:
    """Counts done items out of `total` and shows it on `stream` (stderr by default), at most every 0.2 s."""

    WIDTH = 30

    def __init__(self, total: int, label: str, stream=None):
        self.total = max(total, 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._interactive = self.stream.isatty()
        self._last_draw = 0.0
        self._last_tenth = -1

    def step(self, count: int = 1) -> None:
        """Mark `count` more items done and redraw if it is time."""
        self.done += count
        now = time.monotonic()
        tenth = self.done * 10 // self.total if self.total else 10
        if self._interactive and (now - self._last_draw >= 0.2 or self.done == self.total):
            self._last_draw = now
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif not self._interactive and tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def finish(self) -> None:
        """End the bar's line on a terminal."""
        if self._interactive:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        """The bar as text: [#####.....] 512/10000 label, rate and time left."""
        share = self.done / self.total if self.total else 1.0
        filled = int(share * self.WIDTH)
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total} {self.label} "
                f"({rate:.0f}/s, {left:.0f} s left)")
