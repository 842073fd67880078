"""Light and dark looks: the Fusion style, a matching palette and a style sheet.

The style sheets (``resources/styles/{light,dark}.qss``) style widgets by object name
(``bubbleOutgoing``, ``codeLabel``, ``errorLabel``, ...), so windows only name their widgets.
Fusion plus our own palette makes both themes look the same on every platform: native
styles ignore parts of a palette (and of a style sheet), which leaves dark text on dark
backgrounds. ``MESSENGER_THEME=light|dark`` overrides the system choice (screenshots, tests).

The small helpers at the end (``ErrorLabel``, ``set_primary``, ``monospace_font``) give
widgets the names and properties the style sheets style.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import TypeVar, cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QStyleFactory,
    QWidget,
)

from messenger.resources import resource_path
from messenger.ui.fonts import install_emoji_font

T = TypeVar("T")

__all__ = [
    "THEMES",
    "ErrorLabel",
    "apply_theme",
    "current_theme",
    "follow_system_theme",
    "grow_to_fit",
    "load_stylesheet",
    "message_box",
    "monospace_font",
    "plain_label",
    "plain_tooltip",
    "set_primary",
    "wanted_theme",
]

THEMES = ("light", "dark")
ENV_VAR = "MESSENGER_THEME"
#: Body text size; small system defaults (9 pt) are raised to this, larger ones are kept.
BASE_POINT_SIZE = 10.0
#: Remembers the app's theme; a dynamic property survives without a module global.
_THEME_PROPERTY = "messengerTheme"

# Colours by role for each theme; the style sheets use the same values.
_PALETTES: dict[str, dict[QPalette.ColorRole, str]] = {
    "light": {
        QPalette.ColorRole.Window: "#F5F6F8",
        QPalette.ColorRole.WindowText: "#1F2328",
        QPalette.ColorRole.Base: "#FFFFFF",
        QPalette.ColorRole.AlternateBase: "#F0F2F5",
        QPalette.ColorRole.Text: "#1F2328",
        QPalette.ColorRole.PlaceholderText: "#8A9099",
        QPalette.ColorRole.Button: "#FFFFFF",
        QPalette.ColorRole.ButtonText: "#1F2328",
        QPalette.ColorRole.BrightText: "#FFFFFF",
        QPalette.ColorRole.Highlight: "#2F6FED",
        QPalette.ColorRole.HighlightedText: "#FFFFFF",
        QPalette.ColorRole.Link: "#2F6FED",
        QPalette.ColorRole.LinkVisited: "#6B4FD8",
        QPalette.ColorRole.ToolTipBase: "#FFFFFF",
        QPalette.ColorRole.ToolTipText: "#1F2328",
        QPalette.ColorRole.Light: "#FFFFFF",
        QPalette.ColorRole.Midlight: "#E8EBEF",
        QPalette.ColorRole.Mid: "#C9CED6",
        QPalette.ColorRole.Dark: "#9AA1AB",
        QPalette.ColorRole.Shadow: "#5F6368",
    },
    "dark": {
        QPalette.ColorRole.Window: "#1E1F22",
        QPalette.ColorRole.WindowText: "#E6E7EA",
        QPalette.ColorRole.Base: "#2B2D31",
        QPalette.ColorRole.AlternateBase: "#25272B",
        QPalette.ColorRole.Text: "#E6E7EA",
        QPalette.ColorRole.PlaceholderText: "#7D828A",
        QPalette.ColorRole.Button: "#2B2D31",
        QPalette.ColorRole.ButtonText: "#E6E7EA",
        QPalette.ColorRole.BrightText: "#FFFFFF",
        QPalette.ColorRole.Highlight: "#3A78F2",
        QPalette.ColorRole.HighlightedText: "#FFFFFF",
        QPalette.ColorRole.Link: "#7FA8FF",
        QPalette.ColorRole.LinkVisited: "#B39DFF",
        QPalette.ColorRole.ToolTipBase: "#2B2D31",
        QPalette.ColorRole.ToolTipText: "#E6E7EA",
        QPalette.ColorRole.Light: "#45484F",
        QPalette.ColorRole.Midlight: "#3A3C42",
        QPalette.ColorRole.Mid: "#2F3136",
        QPalette.ColorRole.Dark: "#18191B",
        QPalette.ColorRole.Shadow: "#000000",
    },
}
_DISABLED_TEXT = {"light": "#A0A6AE", "dark": "#6B7079"}


def wanted_theme(app: QApplication) -> str:
    """ "light" or "dark": ``MESSENGER_THEME`` if set to one of those, else the system's
    colour scheme (Unknown, e.g. offscreen or an old desktop, counts as light)."""
    override = os.environ.get(ENV_VAR, "").strip().lower()
    if override in THEMES:
        return override
    if app.styleHints().colorScheme() == Qt.ColorScheme.Dark:
        return "dark"
    return "light"


def load_stylesheet(name: str) -> str:
    """The QSS text of theme ``name``; raises FileNotFoundError if the file is missing.

    ``@styles@`` in the file becomes the absolute styles folder: Qt resolves a relative
    ``url()`` against the working directory, which is anything at all for a desktop app.
    """
    if name not in THEMES:
        raise ValueError(f"Unknown theme {name!r}; expected one of {', '.join(THEMES)}.")
    folder = resource_path("styles")
    text = (folder / f"{name}.qss").read_text(encoding="utf-8")
    return text.replace("@styles@", folder.resolve().as_posix())


def _palette(name: str) -> QPalette:
    palette = QPalette()
    for role, colour in _PALETTES[name].items():
        palette.setColor(role, QColor(colour))
    disabled = QColor(_DISABLED_TEXT[name])
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_theme(app: QApplication) -> str:
    """Apply the wanted theme (style, palette, font size, style sheet, the emoji font);
    returns its name.

    Safe to call again (on a system theme change): widgets restyle themselves. Icons made
    earlier keep their colours; windows that care rebuild them on ``paletteChanged``.
    """
    name = wanted_theme(app)
    if app.style().name().lower() != "fusion":
        fusion = QStyleFactory.create("Fusion")
        if fusion is not None:
            app.setStyle(fusion)
    app.setPalette(_palette(name))
    font = app.font()
    if font.pointSizeF() < BASE_POINT_SIZE:
        font.setPointSizeF(BASE_POINT_SIZE)
        app.setFont(font)
    app.setStyleSheet(load_stylesheet(name))
    app.setProperty(_THEME_PROPERTY, name)
    install_emoji_font()
    return name


def current_theme(app: QApplication) -> str:
    """The theme last applied by ``apply_theme`` ("light" if none was)."""
    name = app.property(_THEME_PROPERTY)
    return name if name in THEMES else "light"


def themed(table: Mapping[str, T]) -> T:
    """The entry of a light/dark table for the theme in use (painting delegates keep their
    colours in such tables)."""
    return table[current_theme(cast(QApplication, QApplication.instance()))]


def follow_system_theme(app: QApplication) -> None:
    """Re-apply the theme whenever the desktop switches between light and dark.

    With ``MESSENGER_THEME`` set the override keeps winning, so this is harmless then.
    """

    def reapply(_scheme: Qt.ColorScheme) -> None:
        if wanted_theme(app) != current_theme(app):
            apply_theme(app)

    app.styleHints().colorSchemeChanged.connect(reapply)


# -- helpers for widgets the style sheets know ------------------------------------------------


class ErrorLabel(QLabel):
    """The red, word-wrapped ``errorLabel`` a form shows a failure in; hidden when empty so
    it takes no room until there is something to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorLabel")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.hide()

    def show_error(self, message: str, fix_here: QWidget | None = None) -> None:
        """Show ``message``; put the cursor in ``fix_here``, the field to correct."""
        self.setText(message)
        self.setVisible(bool(message))
        if message:
            grow_to_fit(self)
        if fix_here is not None:
            fix_here.setFocus()

    def clear_error(self) -> None:
        self.setText("")
        self.hide()


def grow_to_fit(widget: QWidget) -> None:
    """Make ``widget``'s window tall enough for its contents after something appeared.

    Qt raises a window's minimum size when a widget appears, but word-wrapped labels only
    know their height for a given width, so the window can stay too short and squash them.
    Never shrinks: a dialog that jumps smaller under the mouse is worse than some space.
    """
    window = widget.window()
    layout = window.layout()
    if layout is None or not window.isVisible():
        return  # show() sizes a window to its contents anyway
    layout.activate()
    width = window.width()
    if layout.hasHeightForWidth():
        needed = layout.totalHeightForWidth(width)
    else:
        needed = window.sizeHint().height()
    if needed > window.height():
        window.resize(width, needed)


def set_primary(button: QAbstractButton, primary: bool = True) -> None:
    """Mark the one main action of a form; the style sheets paint it in the accent colour."""
    button.setProperty("primary", primary)
    button.style().unpolish(button)
    button.style().polish(button)


def monospace_font(point_size: float | None = None) -> QFont:
    """The system's fixed-width font (codes and safety numbers must not shift columns);
    the style sheets choose the size for named labels."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    if point_size is not None:
        font.setPointSizeF(point_size)
    return font


# -- text that may come from a peer or the relay ---------------------------------------------
#
# A QLabel, a tooltip or a message box in Qt's default (automatic) format renders anything
# that looks like HTML: a display name "<b style='color:green'>carol ✔ verified</b>" would
# paint a fake badge. Every widget that can show a peer's or the relay's words is plain text.


def plain_label(text: str = "", object_name: str = "") -> QLabel:
    """A QLabel that shows ``text`` exactly as written, never as rich text."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    if object_name:
        label.setObjectName(object_name)
    return label


def plain_tooltip(text: str) -> str:
    """``text`` as a tooltip that shows it literally (tooltips have no text format of their
    own: Qt renders whatever looks like HTML, so text that does is escaped into HTML)."""
    if not GuiQt.mightBeRichText(text):
        return text
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


def message_box(
    parent: QWidget | None,
    icon: QMessageBox.Icon,
    title: str,
    text: str,
    informative: str = "",
) -> QMessageBox:
    """A QMessageBox whose text is plain (the app's own boxes quote names and error messages
    from elsewhere); shown by the caller (``open()`` or ``exec()``)."""
    box = QMessageBox(icon, title, "", QMessageBox.StandardButton.NoButton, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    if informative:
        # The informative text has no format setting of its own: escape what looks like HTML.
        box.setInformativeText(plain_tooltip(informative))
    return box


def hint_label(text: str = "", *, wrap: bool = True, top: bool = False) -> QLabel:
    """A muted explanation (``hintLabel`` in the style sheets), always plain text. ``top``
    keeps the text at the top of a form row that may be taller than it (QFormLayout sizes
    rows by size hint, not height-for-width)."""
    label = plain_label(text)
    label.setObjectName("hintLabel")
    label.setWordWrap(wrap)
    if top:
        label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    return label


def copyable_label(
    object_name: str, text: str = "", *, mono: bool = False, centered: bool = False
) -> QLabel:
    """Text a person reads out or copies (a code, a safety number, a fingerprint): plain,
    never rich text, and selectable."""
    label = QLabel(text)
    label.setObjectName(object_name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    if mono:  # the style sheets set the size of named labels; others keep theirs
        label.setFont(monospace_font(label.font().pointSizeF()))
    if centered:
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label
