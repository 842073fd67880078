"""Colour emoji: a font for them, and Qt told to use it.

Without an emoji font Qt draws each emoji as an empty box. The bundle carries Noto Color
Emoji (``resources/fonts``, copied from the build machine by build.spec); a checkout uses
the system's (Debian: ``fonts-noto-color-emoji``, installed by .ci/install-sysdeps.sh).
Either way the family is registered as the application's emoji font, so Qt's font fallback
draws emoji from it whatever font the text is set in.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase

from messenger.resources import resource_path

__all__ = ["EMOJI_FAMILY", "EMOJI_FILE", "install_emoji_font"]

EMOJI_FAMILY = "Noto Color Emoji"
EMOJI_FILE = "NotoColorEmoji.ttf"


def install_emoji_font() -> str | None:
    """Load the bundled emoji font if there is one, else find the system's; make it the
    application's emoji font. Returns the family used, or None if there is none. Needs a
    QGuiApplication; safe to call again."""
    families: list[str] = []
    bundled = resource_path("fonts", EMOJI_FILE)
    if bundled.is_file():
        font_id = QFontDatabase.addApplicationFont(str(bundled))
        if font_id >= 0:
            families = QFontDatabase.applicationFontFamilies(font_id)
    if not families and EMOJI_FAMILY in QFontDatabase.families():
        families = [EMOJI_FAMILY]
    if not families:
        return None
    family = families[0]
    if family not in QFontDatabase.applicationEmojiFontFamilies():
        QFontDatabase.addApplicationEmojiFontFamily(family)
    return family
