"""The quiet terminal driver (screens/driver.py), in a real pseudo-terminal.

A Textual app in a child process on a pty, with the driver the app and the dashboard use:
idle, its input thread must not wake at all; a lone Escape must still arrive (the parser's
timeout is the only reason to wake without input); and quitting must not wait on the input
thread.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from textual._xterm_parser import XTermParser

from nchat_tui.screens.driver import QuietLinuxDriver, parser_due, quiet_driver_class

CHILD = r'''
import sys
from pathlib import Path
from textual.app import App
from textual.binding import Binding
from textual.widgets import Static
from nchat_tui.screens.driver import quiet_driver_class

OUT = Path(sys.argv[1])

class Child(App):
    BINDINGS = [Binding("escape", "leave('escape')"), Binding("q", "leave('q')")]

    def get_driver_class(self):
        return quiet_driver_class(super().get_driver_class())

    def compose(self):
        yield Static("ready")

    def on_mount(self):
        self.call_after_refresh(lambda: OUT.write_text(f"ready {self._driver.wakeups}\n"))

    def action_leave(self, key):
        OUT.write_text(f"{key} {type(self._driver).__name__} {self._driver.wakeups}\n")
        self.exit()

Child().run()
'''


def _run_child(tmp_path: Path, keys: bytes, idle_s: float) -> tuple[str, float, int]:
    """Start the child on a pty, wait ``idle_s`` once it is ready, type ``keys``; returns
    its last report, the seconds from the keys to its exit, and its exit code."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "out.txt"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("TEXTUAL_DRIVER", None)
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdin=slave,
                            stdout=slave, stderr=slave, env=env, close_fds=True,
                            start_new_session=True)
    os.close(slave)

    def drain() -> None:  # the child's screen output: read so its writes never block
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and out.read_text().startswith("ready")):
            assert proc.poll() is None, "the child app died at start"
            assert time.monotonic() < deadline, "the child app never became ready"
            time.sleep(0.05)
        time.sleep(idle_s)
        typed = time.monotonic()
        os.write(master, keys)
        code = proc.wait(timeout=15)
        return out.read_text().strip(), time.monotonic() - typed, code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_idle_input_thread_does_not_wake_and_a_lone_escape_arrives(tmp_path: Path) -> None:
    report, _took, code = _run_child(tmp_path, b"\x1b", idle_s=2.0)
    key, driver, wakeups = report.split()
    assert code == 0 and key == "escape" and driver == "QuietLinuxDriver"
    # Textual's own driver wakes ten times a second: 20 or more here. Ours wakes for the
    # Escape byte (and once more when the parser's timeout for a lone Escape is due).
    assert int(wakeups) <= 3, report


def test_quitting_does_not_wait_on_the_input_thread(tmp_path: Path) -> None:
    report, took, code = _run_child(tmp_path, b"q", idle_s=0.5)
    assert code == 0 and report.startswith("q QuietLinuxDriver")
    # the input thread blocks with no timeout: only the wake-up pipe lets the exit join it
    assert took < 10, took


def test_parser_timeout_attribute_is_still_there() -> None:
    """parser_due reads XTermParser's pending-sequence deadline; a Textual upgrade that
    renames it must fail here, not leave a lone Escape undelivered."""
    parser = XTermParser()
    assert parser_due(parser, time.monotonic()) is None  # nothing pending: wait for input
    list(parser.feed("\x1b"))  # a lone Escape: the parser waits to see if more follows
    due = parser_due(parser, time.monotonic())
    assert due is not None and 0 <= due <= 1.0


def test_the_quiet_driver_only_replaces_textuals_linux_driver() -> None:
    from textual.drivers.headless_driver import HeadlessDriver
    from textual.drivers.linux_driver import LinuxDriver

    assert quiet_driver_class(LinuxDriver) is QuietLinuxDriver
    assert quiet_driver_class(HeadlessDriver) is HeadlessDriver


def test_the_apps_run_on_the_quiet_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both entry points (the app, ``monitor --tui``) pick it on a terminal."""
    from nchat_tui.screens.app import NchatApp
    from nchat_tui.screens.dashboard import MonitorApp

    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    assert MonitorApp(sampler=object()).driver_class is QuietLinuxDriver  # type: ignore[arg-type]
    app = NchatApp.__new__(NchatApp)  # its driver is chosen before any session is needed
    assert NchatApp.get_driver_class(app) is QuietLinuxDriver
