"""QR codes as QPixmaps, painted module by module from segno's matrix (no PIL needed)."""

from __future__ import annotations

import segno
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap

__all__ = ["QUIET_ZONE", "qr_pixmap"]

#: Blank modules around the symbol; the standard asks for 4 so scanners find the edges.
QUIET_ZONE = 4


def qr_pixmap(text: str, size: int) -> QPixmap:
    """A ``size`` x ``size`` pixmap of ``text`` as a QR code: black on white, quiet zone.

    Modules are whole pixels when the size allows it (a blurred module edge is what makes
    scanners fail), and the code is centred in whatever is left over; tiny sizes fall back
    to fractional modules so the result is always exactly the size asked for.
    """
    if size <= 0:
        raise ValueError("A QR code needs a positive size.")
    rows = [list(row) for row in segno.make(text, error="m").matrix_iter(border=QUIET_ZONE)]
    count = len(rows)
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("white"))
    painter = QPainter(pixmap)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("black"))
    module = size // count
    if module >= 1:
        offset = (size - module * count) // 2
        edges = [offset + i * module for i in range(count + 1)]
    else:
        edges = [round(i * size / count) for i in range(count + 1)]
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                painter.drawRect(
                    QRect(edges[x], edges[y], edges[x + 1] - edges[x], edges[y + 1] - edges[y])
                )
    painter.end()
    return pixmap
