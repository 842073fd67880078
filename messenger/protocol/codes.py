"""Pairing codes like ``7-orbit-lantern``: a session number the relay knows, then a password
it never sees.

Two words from 256 give 16 bits. That is enough because the password only ever feeds SPAKE2:
each guess costs an attacker a live pairing attempt, and the relay burns a session number
after a few failed attempts, so an attacker's chance is about 3 in 65,536 per code, and a
recording of the exchange gives them nothing to test guesses against offline.
"""

from __future__ import annotations

import re
import secrets

WORDS: tuple[str, ...] = (
    "acorn",
    "adobe",
    "agent",
    "album",
    "alpha",
    "amber",
    "anchor",
    "angle",
    "apple",
    "apron",
    "arrow",
    "aspen",
    "atlas",
    "attic",
    "autumn",
    "badge",
    "bagel",
    "ballet",
    "bamboo",
    "banjo",
    "barley",
    "basil",
    "beacon",
    "beaver",
    "berry",
    "bison",
    "blanket",
    "blossom",
    "bonnet",
    "border",
    "bottle",
    "bramble",
    "breeze",
    "bridge",
    "bronze",
    "bubble",
    "bucket",
    "buffalo",
    "bugle",
    "butter",
    "button",
    "cabin",
    "cactus",
    "camel",
    "candle",
    "canoe",
    "canvas",
    "canyon",
    "carbon",
    "cargo",
    "carrot",
    "castle",
    "cedar",
    "cello",
    "chalk",
    "cherry",
    "chimney",
    "cider",
    "cinema",
    "circus",
    "citrus",
    "clover",
    "cobalt",
    "coconut",
    "comet",
    "compass",
    "copper",
    "coral",
    "cotton",
    "cougar",
    "crayon",
    "cricket",
    "crystal",
    "cupid",
    "cymbal",
    "dahlia",
    "daisy",
    "dancer",
    "delta",
    "denim",
    "desert",
    "diesel",
    "dingo",
    "dolphin",
    "domino",
    "dragon",
    "eagle",
    "easel",
    "echo",
    "eclipse",
    "elbow",
    "ember",
    "emerald",
    "engine",
    "falcon",
    "feather",
    "fennel",
    "ferry",
    "fiddle",
    "fig",
    "flannel",
    "flute",
    "forest",
    "fossil",
    "fountain",
    "fox",
    "galaxy",
    "garden",
    "garnet",
    "gazelle",
    "geyser",
    "ginger",
    "glacier",
    "globe",
    "goblet",
    "gopher",
    "granite",
    "gravel",
    "guitar",
    "hammock",
    "harbor",
    "harvest",
    "hazel",
    "helmet",
    "heron",
    "hickory",
    "honey",
    "horizon",
    "hornet",
    "husky",
    "igloo",
    "indigo",
    "island",
    "ivory",
    "jacket",
    "jaguar",
    "jasmine",
    "jelly",
    "jigsaw",
    "juniper",
    "kayak",
    "kernel",
    "kettle",
    "kiwi",
    "koala",
    "ladder",
    "lagoon",
    "lantern",
    "lava",
    "lemon",
    "lilac",
    "linen",
    "lizard",
    "lobster",
    "locket",
    "lotus",
    "lunar",
    "magnet",
    "mango",
    "maple",
    "marble",
    "meadow",
    "melon",
    "meteor",
    "mint",
    "mirror",
    "mocha",
    "monsoon",
    "mosaic",
    "muffin",
    "mustard",
    "nectar",
    "needle",
    "nickel",
    "noodle",
    "nutmeg",
    "oasis",
    "ocean",
    "olive",
    "onyx",
    "opal",
    "orbit",
    "orchid",
    "otter",
    "oyster",
    "paddle",
    "pagoda",
    "panda",
    "papaya",
    "parrot",
    "pebble",
    "pelican",
    "pepper",
    "piano",
    "pickle",
    "pilot",
    "pine",
    "pistachio",
    "planet",
    "plum",
    "pocket",
    "polar",
    "poppy",
    "prairie",
    "prism",
    "puffin",
    "pumpkin",
    "quartz",
    "quill",
    "rabbit",
    "radar",
    "radish",
    "raven",
    "reef",
    "ribbon",
    "river",
    "robin",
    "rocket",
    "ruby",
    "saddle",
    "saffron",
    "salmon",
    "sapphire",
    "satin",
    "scarf",
    "shadow",
    "sherbet",
    "signal",
    "silver",
    "sketch",
    "sparrow",
    "spiral",
    "sprout",
    "squirrel",
    "summit",
    "sunset",
    "swan",
    "tango",
    "teapot",
    "thistle",
    "thunder",
    "tiger",
    "timber",
    "toffee",
    "topaz",
    "tulip",
    "tundra",
    "turtle",
    "umbrella",
    "valley",
    "velvet",
    "violet",
    "walnut",
    "willow",
    "zebra",
    "zephyr",
)

PASSWORD_WORDS = 2

#: What may stand between the parts of a code typed from hearing it: spaces, dashes (also the
#: en and em dashes that phones and word processors turn a hyphen into), dots, commas and
#: underscores, any number of them.
_SEPARATORS = r"[\s\-\u2010-\u2015\u2212.,;:_/]+"
_CODE = re.compile(rf"^\s*(\d{{1,6}}){_SEPARATORS}(\w.*?)[\s.,;:]*$")
_SPLIT = re.compile(_SEPARATORS)


def generate_password(n_words: int = PASSWORD_WORDS) -> str:
    """Pick words with the OS's CSPRNG; the password is what the relay never sees."""
    return "-".join(secrets.choice(WORDS) for _ in range(n_words))


def make_code(session: str, password: str) -> str:
    return f"{session}-{password}"


def parse_code(code: str) -> tuple[str, str]:
    """Split ``7-orbit-lantern`` into ("7", "orbit-lantern"); ValueError if it is not a code.

    A code is read aloud and typed from hearing it, so any separator and any case are fine:
    ``7 Orbit Lantern``, ``7.orbit.lantern`` and ``7, orbit, lantern`` are the same code.
    """
    match = _CODE.match(code)
    if not match:
        raise ValueError(
            "A code looks like 7-orbit-lantern: the session number, a dash, then the words."
        )
    session, password = match.groups()
    words = [word for word in _SPLIT.split(password.lower()) if word]
    return str(int(session)), "-".join(words)


def current_word(typed: str) -> tuple[str, str]:
    """Split partly typed code into (everything before the word being typed, that word), for
    completing the word as it is typed: ``"7 orb"`` -> ``("7 ", "orb")``."""
    match = re.search(r"[^\s\-\u2010-\u2015\u2212.,;:_/]*$", typed)
    start = match.start() if match else len(typed)
    return typed[:start], typed[start:]


def words_starting(prefix: str) -> list[str]:
    """The code words that begin with ``prefix`` (any case), in list order; none for an
    empty prefix or a number."""
    prefix = prefix.lower()
    if not prefix or not prefix.isalpha():
        return []
    return [word for word in WORDS if word.startswith(prefix)]
