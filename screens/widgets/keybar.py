"""The screen's keys on the bottom line, as Textual's ``Footer`` shows them, in ONE widget.

Textual's ``Footer`` is a scrolling container of one widget per key (eleven widgets on the
monitor dashboard), each with its own message queue, task and tooltip. On a screen that stays
open and samples every second that costs, measured side by side on the monitor dashboard:

- 2.6 MiB of resident memory (RSS 57.4 MiB against 60.1 MiB);
- a render of the footer's container on every partial repaint: Textual renders each top-level
  widget again whenever any region of the screen changed.

``KeyBar`` reads the same bindings (``Screen.active_bindings``: hidden ones left out, disabled
ones dimmed, one entry per action, the command palette's key on the right) and draws them on
one line with the footer's theme colours. A click on a key presses it, as on the footer. It
redraws only when the screen's bindings change.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual import events
from textual.widget import Widget


class KeySpan(NamedTuple):
    """Where one key sits on the line (cells ``start`` to ``end``, end excluded)."""

    start: int
    end: int
    key: str
    enabled: bool


class KeyBar(Widget):
    """The active bindings of the screen, on one line (see the module docstring)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--palette"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keybar--palette {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self, *, show_command_palette: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_command_palette = show_command_palette
        self.spans: list[KeySpan] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: object) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()

    def _entries(self) -> tuple[list[tuple[str, str, str, bool]], tuple[str, str, str, bool] | None]:
        """(key, key as shown, description, enabled): the screen's keys, then the palette's."""
        active = self.screen.active_bindings
        palette_key = self.app.COMMAND_PALETTE_BINDING
        show_palette = self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE
        seen: set[str] = set()
        keys: list[tuple[str, str, str, bool]] = []
        for key, (_node, binding, enabled, _tip) in active.items():
            if not binding.show or binding.action in seen:
                continue
            if show_palette and key == palette_key:
                continue
            seen.add(binding.action)  # one entry per action, as the footer shows them
            keys.append((binding.key, self.app.get_key_display(binding),
                         binding.description, enabled))
        palette = None
        if show_palette and palette_key in active:
            _node, binding, enabled, _tip = active[palette_key]
            palette = (binding.key, self.app.get_key_display(binding),
                       binding.description, enabled)
        return keys, palette

    def render(self) -> Text:
        width = self.size.width
        key_style = self.get_component_rich_style("keybar--key", partial=True)
        desc_style = self.get_component_rich_style("keybar--description", partial=True)
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[KeySpan] = []
        keys, palette = self._entries()
        tail = Text(no_wrap=True, end="")
        if palette is not None:
            key, shown, desc, enabled = palette
            tail.append("▏", style=self.get_component_rich_style("keybar--palette"))
            tail.append(shown, style=key_style)
            tail.append(f" {desc} ", style=desc_style)
            if not enabled:
                tail.stylize("dim")
        room = max(0, width - tail.cell_len)  # the palette key's cells, if any, kept
        for key, shown, desc, enabled in keys:
            item = Text.assemble((f" {shown} ", key_style),
                                 (f"{desc} " if desc else "", desc_style))
            if not enabled:
                item.stylize("dim")
            if line.cell_len + item.cell_len > room:
                break  # a key is shown whole or not at all
            spans.append(KeySpan(line.cell_len, line.cell_len + item.cell_len, key, enabled))
            line.append_text(item)
        if palette is not None:
            line.append(" " * (room - line.cell_len))
            start = line.cell_len
            line.append_text(tail)
            spans.append(KeySpan(start, line.cell_len, palette[0], palette[3]))
        self.spans = spans
        return line

    def key_at(self, x: int) -> KeySpan | None:
        """The key drawn at cell ``x`` of the line, if any."""
        return next((s for s in self.spans if s.start <= x < s.end), None)

    def on_click(self, event: events.Click) -> None:
        span = self.key_at(event.x)
        if span is None:
            return
        event.stop()
        if span.enabled:
            self.app.simulate_key(span.key)
        else:
            self.app.bell()
