"""The file card's colours, one style sheet per theme.

They belong in resources/styles/{light,dark}.qss with the other named widgets; until then
the card sets the sheet for its theme on itself (``TransferCard._restyle``) and swaps it
on a theme switch.
"""

from __future__ import annotations

__all__ = ["CARD_QSS"]

#: Style sheet by theme name (``theme.current_theme``).
CARD_QSS = {
    "light": """
#transferCard { background-color: #FFFFFF; border: 1px solid #DDE1E6; border-radius: 12px; }
#transferCard[direction="out"] { background-color: #F5F8FF; border-color: #C9D8FB; }
#transferCard QLabel { background: transparent; padding: 0; }
#transferName { color: #1F2328; }
#transferMeta, #transferSpeed, #transferPercent { color: #5F6368; font-size: 9pt; }
#transferState { color: #5F6368; font-size: 9pt; }
#transferState[tone="good"] { color: #1A7F37; }
#transferState[tone="muted"] { color: #80868B; font-style: italic; }
#transferCard #fileBadge {
    color: #2F6FED; background-color: #E8F0FE; border-radius: 8px;
    font-size: 8pt; font-weight: 700;
}
#transferCard QPushButton { padding: 4px 12px; }
""",
    "dark": """
#transferCard { background-color: #2B2D31; border: 1px solid #3A3C42; border-radius: 12px; }
#transferCard[direction="out"] { background-color: #252C3A; border-color: #34507F; }
#transferCard QLabel { background: transparent; padding: 0; }
#transferName { color: #E6E7EA; }
#transferMeta, #transferSpeed, #transferPercent { color: #A0A4AB; font-size: 9pt; }
#transferState { color: #A0A4AB; font-size: 9pt; }
#transferState[tone="good"] { color: #3FB950; }
#transferState[tone="muted"] { color: #8A8F98; font-style: italic; }
#transferCard #fileBadge {
    color: #7FA8FF; background-color: #23304A; border-radius: 8px;
    font-size: 8pt; font-weight: 700;
}
#transferCard QPushButton { padding: 4px 12px; }
""",
}
