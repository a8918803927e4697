"""A terminal driver that sleeps while nothing is typed.

Textual's ``LinuxDriver`` reads the keyboard in a thread that wakes every 0.1 s, whether or
not a key came, to notice that input should stop and to time out a lone Escape. Ten wake-ups
a second cost an idle dashboard about 0.2% of a core (more than its database queries), and a
monitor left open for hours on a database host should cost nothing while nothing happens.

``QuietLinuxDriver`` waits on the keyboard and on a wake-up pipe with no timeout, except while
the key parser holds a partial sequence (a lone Escape, or the start of one), when it waits
only until that sequence is due. Stopping the input (``exit_event.set()``) writes to the pipe,
so the thread leaves at once. Textual closes the driver when the app is suspended (``P``,
psql) and starts it again on resume: the pipe is closed with it and opened again on start.
Everything else is Textual's driver, unchanged.
"""

from __future__ import annotations

import os
import selectors
import threading
import time
from codecs import getincrementaldecoder
from collections.abc import Callable
from typing import Any

from textual._xterm_parser import XTermParser
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver


class _WakingEvent(threading.Event):
    """``exit_event`` that also wakes the input thread's wait when it is set."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake()


def parser_due(parser: Any, now: float) -> float | None:
    """Seconds until the key parser's pending sequence times out, or None if none is pending.

    XTermParser keeps the deadline of a partial sequence (a lone Escape) in ``_timeout_time``;
    tests/test_driver.py fails if an upgrade of Textual renames it. Without it the wait falls
    back to Textual's own 0.1 s poll."""
    if not hasattr(parser, "_timeout_time"):
        return 0.1
    deadline = parser._timeout_time
    return None if deadline is None else max(0.0, deadline - now)


class QuietLinuxDriver(LinuxDriver):
    """LinuxDriver whose input thread wakes only for input, a due key sequence, or exit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_r, self._wake_w = -1, -1
        self._open_wake()
        self.exit_event = _WakingEvent(self._wake)
        self.wakeups = 0
        """How many times the input thread's wait returned (tests count them while idle)."""

    def _open_wake(self) -> None:
        """The wake-up pipe, opened if closed (by ``close``, when the app was suspended)."""
        if self._wake_r >= 0:
            return
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def start_application_mode(self) -> None:
        # before the input thread starts: it waits on the pipe (a resume after a suspend
        # comes here with the pipe closed; the thread then died on it and the app with it)
        self._open_wake()
        super().start_application_mode()

    def run_input_thread(self) -> None:
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        selector = selectors.DefaultSelector()
        selector.register(self.fileno, selectors.EVENT_READ, "keys")
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self.exit_event.is_set():
                ready = selector.select(parser_due(parser, time.monotonic()))
                self.wakeups += 1
                for key, _mask in ready:
                    if key.data == "wake":
                        self._drain_wake()
                        continue
                    raw = os.read(self.fileno, 4096)
                    if not raw:  # end of input (stdin closed): wait for the stop alone
                        selector.unregister(self.fileno)
                        continue
                    for event in parser.feed(decode(raw)):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
            # what was typed before the stop still reaches the app
            for key, _mask in selector.select(0):
                if key.data == "keys":
                    for event in parser.feed(decode(os.read(self.fileno, 4096), final=True)):
                        self.process_message(event)
        finally:
            selector.close()

    def _wake(self) -> None:
        if self._wake_w < 0:
            return
        try:
            os.write(self._wake_w, b"\0")
        except OSError:  # the pipe is full: the thread is being woken already
            pass

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 64):
                pass
        except OSError:  # drained (the pipe is non-blocking) or closed
            pass

    def close(self) -> None:
        super().close()
        fds, (self._wake_r, self._wake_w) = (self._wake_r, self._wake_w), (-1, -1)
        for fd in fds:
            if fd >= 0:
                os.close(fd)


def quiet_driver_class(default: type[Driver]) -> type[Driver]:
    """The driver an app should run with: the quiet one where Textual would pick LinuxDriver
    (a real terminal on Linux or macOS), ``default`` otherwise (Windows, a driver named in
    TEXTUAL_DRIVER, the web)."""
    return QuietLinuxDriver if default is LinuxDriver else default

