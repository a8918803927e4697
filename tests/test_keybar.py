"""KeyBar: the dashboard's one-widget key line reads as Textual's Footer did, and works."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from nchat_tui.screens.dashboard import DashboardScreen
from nchat_tui.screens.widgets.keybar import KeyBar
from tests.monitor_fakes import dashboard_app, until_sampled


class KeysScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "leave", "Back"),
        Binding("p", "pause", "Pause"),
        Binding("plus,equals_sign", "bump", "Slower", key_display="+"),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("x", "greyed", "Greyed"),
        Binding("h", "hidden", "Hidden"),
        Binding("s", "sort", "Sort"),
    ]

    def __init__(self, bar: str) -> None:
        super().__init__()
        self.bar = bar
        self.pressed: list[str] = []
        self.hide_sort = False

    def compose(self) -> ComposeResult:
        yield Static("body")
        yield KeyBar() if self.bar == "keybar" else Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "greyed":
            return None  # shown, disabled
        # False: not shown at all
        return not (action == "hidden" or (action == "sort" and self.hide_sort))

    def action_pause(self) -> None:
        self.pressed.append("pause")

    def action_bump(self) -> None:
        self.pressed.append("bump")

    def action_greyed(self) -> None:
        self.pressed.append("greyed")

    def action_sort(self) -> None:
        self.pressed.append("sort")


class KeysApp(App[None]):
    def __init__(self, bar: str) -> None:
        super().__init__()
        self.bar = bar

    def on_mount(self) -> None:
        self.push_screen(KeysScreen(self.bar))


async def _keys_screen(pilot: Any) -> KeysScreen:
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, KeysScreen)
    return screen


async def _last_line(bar: str, size: tuple[int, int]) -> str:
    app = KeysApp(bar)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        return [s.text for s in app.screen._compositor.render_strips()][-1]


async def test_the_line_reads_as_textuals_footer_at_80_and_200_columns() -> None:
    for size in ((80, 10), (200, 10)):
        ours, footer = await _last_line("keybar", size), await _last_line("footer", size)
        assert ours == footer, (size, ours, footer)
    assert "Reverse" not in ours and "Hidden" not in ours  # show=False / check_action False
    assert " esc Back  p Pause  + Slower  x Greyed  s Sort " in ours
    assert ours.rstrip().endswith("^p palette")


async def test_a_narrow_line_shows_whole_keys_and_keeps_the_palette_key() -> None:
    line = await _last_line("keybar", (40, 10))
    # " + Slower " would end at 29 and the palette key takes the last 13 of 40 columns
    assert line.startswith(" esc Back  p Pause ")
    assert line.rstrip().endswith("▏^p palette")
    assert "Slow" not in line and "+ " not in line  # a key is whole or absent


async def test_a_disabled_key_is_dim_and_a_click_presses_an_enabled_one() -> None:
    app = KeysApp("keybar")
    async with app.run_test(size=(80, 10)) as pilot:
        screen = await _keys_screen(pilot)
        bar = screen.query_one(KeyBar)
        line = bar.render()
        greyed = line.plain.index("x Greyed")
        assert any("dim" in str(span.style) and span.start <= greyed < span.end
                   for span in line.spans)
        pause = line.plain.index("p Pause")
        assert not any("dim" in str(span.style) and span.start <= pause < span.end
                       for span in line.spans)
        await pilot.click(KeyBar, offset=(pause + 1, 0))
        await pilot.click(KeyBar, offset=(line.plain.index("+ Slower") + 1, 0))
        await pilot.click(KeyBar, offset=(greyed + 1, 0))  # disabled: a bell, no action
        await pilot.pause()
        assert screen.pressed == ["pause", "bump"]


async def test_the_line_follows_the_screens_bindings_when_they_change() -> None:
    app = KeysApp("keybar")
    async with app.run_test(size=(80, 10)) as pilot:
        screen = await _keys_screen(pilot)
        assert "s Sort" in screen.query_one(KeyBar).render().plain
        screen.hide_sort = True
        screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        line = [s.text for s in app.screen._compositor.render_strips()][-1]
        assert "Sort" not in line


async def test_the_dashboard_key_line_is_one_widget_with_the_dashboards_keys() -> None:
    app: Any = dashboard_app(interval=30.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await until_sampled(pilot, screen, 1)
        assert not screen.query(Footer)
        bar = screen.query_one(KeyBar)
        assert not bar.children
        line = [s.text for s in screen._compositor.render_strips()][-1]
        for key in ("esc Back", "p Pause", "+ Slower", "- Faster", "s Sort", "d This db",
                    "/ Filter", "^p palette"):
            assert key in line, (key, line)
        await pilot.click(KeyBar, offset=(line.index("p Pause") + 1, 0))
        await pilot.pause()
        assert screen.paused is True
