"""When two display names would pass for each other: the look-alike skeleton (UTS #39).

A name is a label anyone can pick, so the contact check must not be fooled by "Bob " for
"Bob", "BOB" for "Bob", or "Bоb" written with a Cyrillic "о". Each name is reduced to a
skeleton: compatibility forms folded (NFKD: fullwidth and mathematical letters), invisible
format characters dropped, every look-alike replaced by the character it passes for
(``confusables_table``, from Unicode's confusables.txt), case folded, spaces collapsed.
Repeated until nothing changes, because a folded letter can itself be a look-alike.

Case is folded before *and* after the mapping (two skeletons per name): confusables.txt maps
the capital "I" to "l" (they look the same in many fonts) but not the small "i", so "Iris"
must also be compared as "iris".
"""

from __future__ import annotations

import unicodedata

from messenger.store.confusables_table import CONFUSABLES

__all__ = ["look_alike", "skeleton", "skeletons"]

#: A few rounds reach a fixed point for every entry of the table (checked by a test).
_ROUNDS = 4


def skeleton(name: str) -> str:
    """The string two names share when a person could mistake one for the other."""
    text = name
    for _ in range(_ROUNDS):
        folded = unicodedata.normalize("NFKD", text)
        folded = "".join(
            CONFUSABLES.get(char, char)
            for char in folded
            if unicodedata.category(char) != "Cf"  # zero-width spaces, joiners, bidi marks
        )
        folded = unicodedata.normalize("NFKD", folded).casefold()
        if folded == text:
            break
        text = folded
    return " ".join(text.split())


def skeletons(name: str) -> frozenset[str]:
    """The skeleton of the name as written and of the name in small letters."""
    return frozenset({skeleton(name), skeleton(name.casefold())})


def look_alike(first: str, second: str) -> bool:
    """True when the two names could be taken for one another (equal names too)."""
    return bool(skeletons(first) & skeletons(second))
