"""The app's icons: SVGs from ``resources/icons`` rendered with QtSvg, tinted for dark mode.

Rendering ourselves (rather than ``QIcon(path)``) lets one set of grey line icons serve both
themes: the monochrome ones are repainted in the palette's text colour when it is light on
dark. The app icon also exists as PNGs (``resources/icons/app``) for the .desktop file,
the tray and the PyInstaller bundle; ``render_app_icon_pngs`` regenerates them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from messenger.resources import resource_path

__all__ = [
    "APP_ICON_SIZES",
    "ICON_NAMES",
    "app_icon",
    "attach_icon",
    "icon",
    "render_app_icon_pngs",
    "render_svg",
]

#: Sizes of the PNG renderings of the app icon (what desktops and the tray ask for).
APP_ICON_SIZES: tuple[int, ...] = (16, 32, 48, 64, 128, 256)
#: Sizes each line icon is rendered at; QIcon picks the nearest for the device pixel ratio.
_ICON_SIZES: tuple[int, ...] = (16, 20, 24, 32, 48, 64)
#: Line icons drawn in a single grey: safe to repaint in any colour.
_MONOCHROME = frozenset({"lock", "key", "send", "copy", "person"})
#: Every icon the app ships (file stem in resources/icons).
ICON_NAMES: tuple[str, ...] = ("messenger", "lock", "key", "verified", "send", "copy", "person")
#: Rendered icons by (name, tint): lists ask for the same icon once per row.
_cache: dict[tuple[str, str | None], QIcon] = {}


def _svg_path(name: str) -> Path:
    return resource_path("icons", f"{name}.svg")


def render_svg(path: Path, size: int, color: QColor | None = None) -> QImage:
    """Render an SVG into a transparent square image; with ``color``, repaint every opaque
    pixel in it (keeping the antialiased alpha), which is how line icons get tinted."""
    renderer = QSvgRenderer(str(path))
    if not renderer.isValid():
        raise ValueError(f"{path} is not a valid SVG file.")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    if color is not None:
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        painter.fillRect(image.rect(), color)
    painter.end()
    return image


def _is_dark_palette() -> bool:
    """True when the current palette is light text on a dark window (our dark theme, or a
    dark system palette when no theme was applied)."""
    palette = QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def _default_tint(name: str) -> QColor | None:
    """Line icons stay as drawn (mid grey) on light backgrounds; on dark ones that grey is
    too dim, so they take a light grey instead."""
    if name not in _MONOCHROME or not _is_dark_palette():
        return None
    return QColor("#C4C7CC")


def icon(name: str, color: QColor | str | None = None) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` as a QIcon.

    ``color`` repaints a line icon (e.g. ``"white"`` on the accent-blue send button); by
    default line icons are tinted to suit the current palette. Call after ``apply_theme``:
    an icon keeps the colours it was made with.
    """
    tint = QColor(color) if color is not None else _default_tint(name)
    key = (name, tint.name(QColor.NameFormat.HexArgb) if tint is not None else None)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    path = _svg_path(name)
    if not path.exists():
        raise FileNotFoundError(f"No icon named {name!r} ({path} is missing).")
    result = QIcon()
    for size in _ICON_SIZES:
        result.addPixmap(QPixmap.fromImage(render_svg(path, size, tint)))
    _cache[key] = result
    return result


# A paperclip, drawn here until resources/icons has one.
_PAPERCLIP_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="3 3 18 18" '
    'fill="none" stroke="#5F6368" stroke-width="1.8" stroke-linecap="round">'
    '<path transform="rotate(40 12 12)" '
    'd="M16 7 V16.5 A4 4 0 0 1 8 16.5 V5.5 A3 3 0 0 1 14 5.5 V15.5 A2 2 0 0 1 10 15.5 V8"/>'
    "</svg>"
)


def attach_icon(palette: QPalette | None = None) -> QIcon:
    """The attach button's paperclip, in a grey that suits the (current) palette."""
    palette = palette or QGuiApplication.palette()
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    colour = QColor("#C4C7CC" if dark else "#5F6368")
    renderer = QSvgRenderer(QByteArray(_PAPERCLIP_SVG.encode()))
    result = QIcon()
    for size in (16, 20, 24, 32, 48):
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        painter.fillRect(image.rect(), colour)
        painter.end()
        result.addPixmap(QPixmap.fromImage(image))
    return result


def app_icon() -> QIcon:
    """The app icon with every PNG size (crisp where the desktop asks for an exact size),
    falling back to the SVG for sizes without a PNG or if the PNGs were not rendered."""
    result = QIcon()
    for size in APP_ICON_SIZES:
        png = resource_path("icons", "app", f"messenger-{size}.png")
        if png.exists():
            result.addFile(str(png), QSize(size, size))
    if result.isNull():
        result = QIcon(str(_svg_path("messenger")))
    return result


def render_app_icon_pngs(out_dir: Path | str | None = None) -> list[Path]:
    """Render ``messenger.svg`` to ``messenger-<size>.png`` for every ``APP_ICON_SIZES``.

    Needs a QGuiApplication (QPainter on a QImage works offscreen). Returns the files
    written; the default ``out_dir`` is ``resources/icons/app``.
    """
    target = Path(out_dir) if out_dir is not None else resource_path("icons", "app")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for size in APP_ICON_SIZES:
        path = target / f"messenger-{size}.png"
        if not render_svg(_svg_path("messenger"), size).save(str(path), b"PNG"):
            raise OSError(f"Could not write {path}.")
        written.append(path)
    return written
