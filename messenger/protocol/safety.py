"""Safety numbers: 60 digits in twelve groups of five that two people compare by eye."""

from __future__ import annotations

GROUPS = 12
DIGITS_PER_GROUP = 5
#: Bytes of input consumed per group: 5 bytes (40 bits) reduced mod 10^5 has negligible bias.
BYTES_PER_GROUP = 5
SEED_SIZE = GROUPS * BYTES_PER_GROUP


def format_safety_number(seed: bytes) -> str:
    """Render ``seed`` (at least 60 bytes) as "12345 67890 ..." (60 digits)."""
    if len(seed) < SEED_SIZE:
        raise ValueError(f"A safety number needs {SEED_SIZE} bytes of input.")
    groups = []
    for index in range(GROUPS):
        chunk = seed[index * BYTES_PER_GROUP : (index + 1) * BYTES_PER_GROUP]
        groups.append(f"{int.from_bytes(chunk, 'big') % 10**DIGITS_PER_GROUP:05d}")
    return " ".join(groups)
