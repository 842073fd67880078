"""What the cipher lab refuses, as messages a person can act on.

Both are ``ValueError`` subclasses, so a caller that only knows "bad input" catches them;
none carries a traceback to the screen: the lab and messenger-cli show ``str(error)``.
"""


class LabError(ValueError):
    """The cipher lab cannot do this with the input given."""


class BadKeyError(LabError):
    """That key does not fit this cipher."""


class UnknownCipherError(LabError):
    """There is no cipher by that name."""
