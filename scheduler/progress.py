"""Progress of a long-running management command, short by default.

- verbosity 0: nothing;
- verbosity 1 (the default): on a terminal, one line that updates in place (`[12/31] iida-station`)
  and is wiped before the command's summary line; into a file or a pipe, nothing (the summary line
  is what a log needs);
- verbosity 2 and up (`-v 2`): one line per step, kept.
"""

from __future__ import annotations

from django.core.management.base import OutputWrapper


class ProgressLine:
    def __init__(self, stdout: OutputWrapper, verbosity: int) -> None:
        self.stdout = stdout
        self.verbosity = verbosity
        self.in_place = verbosity == 1 and stdout.isatty()
        self.width = 0

    def step(self, text: str) -> None:
        if self.verbosity >= 2:
            self.stdout.write(text)
        elif self.in_place:
            self.width = max(self.width, len(text))
            self.stdout.write("\r" + text.ljust(self.width), ending="")
            self.stdout.flush()

    def detail(self, text: str) -> None:
        """A line shown with `-v 2` only."""
        if self.verbosity >= 2:
            self.stdout.write(text)

    def done(self) -> None:
        if self.in_place and self.width:
            self.stdout.write("\r" + " " * self.width + "\r", ending="")
            self.width = 0
