"""A few lines of Rich ``Text`` drawn through Textual's line API, each rendered once per change.

The dashboard's summary (connections, lock waits, the host line, the chart labels and both
sparklines) changes every other second. As a ``Static`` each update converted the whole text to
Textual ``Content``, wrapped and formatted it again: measured on the idle demo, that render
took half of each repaint of the screen (0.64 of 1.26 ms, cold). Here a line is never wrapped
(a line wider than the widget is cut, as the summary already cuts its lines to fit) and a line
that did not change keeps its strip.
"""

from __future__ import annotations

from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


def _key(line: Text) -> tuple[object, ...]:
    """What a line looks like: its text, its spans AND its base style (Text's == leaves the
    base style out, and a theme change changes only that)."""
    return line.plain, tuple(line.spans), str(line.style)


class TextLines(Widget):
    """Lines of text, one per row; ``set_lines`` replaces them (see the module docstring)."""

    DEFAULT_CSS = """
    TextLines { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Text] = []
        self._strips: dict[int, Strip] = {}  # line: its strip, at the width it was drawn

    def set_lines(self, lines: list[Text]) -> None:
        """Show ``lines``; only a change of the number of lines lays the screen out again."""
        old_keys, new_keys = [_key(t) for t in self.lines], [_key(t) for t in lines]
        if old_keys == new_keys:
            return
        layout = len(lines) != len(self.lines)
        keep = {y for y, (old, new) in enumerate(zip(old_keys, new_keys, strict=False))
                if old == new}
        self._strips = {y: v for y, v in self._strips.items() if y in keep}
        self.lines = list(lines)
        self.refresh(layout=layout)

    def render(self) -> Text:
        """The lines as one Text (what ``str()`` of a Static's render gave: for tests and
        for reading the screen; drawing goes through ``render_line``)."""
        return Text("\n").join(self.lines)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return len(self.lines)

    def notify_style_update(self) -> None:
        self._strips.clear()  # a theme change: the base style of every strip changed
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        base = self.rich_style
        if y >= len(self.lines):
            return Strip.blank(width, base)
        strip = self._strips.get(y)
        if strip is None or strip.cell_length != width:
            text = self.lines[y].copy()
            text.no_wrap, text.overflow, text.end = True, "crop", ""
            text.stylize_before(base)
            strip = Strip(text.render(self.app.console)).crop_extend(0, width, base)
            self._strips[y] = strip
        return strip
