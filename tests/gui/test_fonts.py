"""Emoji are drawn in colour, not as empty boxes: the app registers an emoji font."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QFontDatabase, QImage
from PySide6.QtWidgets import QLabel

from messenger.ui import fonts
from messenger.ui.fonts import EMOJI_FAMILY, EMOJI_FILE, install_emoji_font

SYSTEM_FONT = Path("/usr/share/fonts/truetype/noto") / EMOJI_FILE


def coloured_pixels(label: QLabel) -> int:
    label.adjustSize()
    image = QImage(label.size(), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    label.render(image)
    return sum(
        1
        for y in range(image.height())
        for x in range(image.width())
        if image.pixelColor(x, y).hsvSaturation() > 120
    )


def test_emoji_get_a_colour_font(qapp):
    assert install_emoji_font() == EMOJI_FAMILY, "apt-get install fonts-noto-color-emoji"
    assert EMOJI_FAMILY in QFontDatabase.applicationEmojiFontFamilies()
    label = QLabel("\U0001f600 \U0001f44d")
    label.setFont(qapp.font())
    assert coloured_pixels(label) > 20, "emoji drew in colour"


@pytest.mark.skipif(not SYSTEM_FONT.is_file(), reason="needs fonts-noto-color-emoji")
def test_a_bundled_emoji_font_is_loaded_from_resources(qapp, tmp_path, monkeypatch):
    (tmp_path / "fonts").mkdir()
    shutil.copy(SYSTEM_FONT, tmp_path / "fonts" / EMOJI_FILE)
    loaded: list[str] = []
    real = QFontDatabase.addApplicationFont
    monkeypatch.setattr(
        fonts, "resource_path", lambda *parts: tmp_path.joinpath(*parts), raising=True
    )
    monkeypatch.setattr(
        QFontDatabase, "addApplicationFont", lambda path: loaded.append(path) or real(path)
    )
    assert install_emoji_font() == EMOJI_FAMILY
    assert loaded == [str(tmp_path / "fonts" / EMOJI_FILE)]
