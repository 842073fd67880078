"""The cipher lab's classical ciphers and the attacks that break them (issue 14).

Caesar, monoalphabetic substitution, keyed columnar transposition and Vigenère, each with an
attack that is given only ciphertext. They are here to be broken: nothing in Messenger
protects a message with them. Imports no Qt, so the lab window, messenger-cli and the
benchmark share one implementation.
"""

from messenger.crypto.classical.ciphers import CIPHERS, Cipher, cipher_named
from messenger.crypto.classical.errors import BadKeyError, LabError, UnknownCipherError
from messenger.crypto.classical.text import ALPHABET, letters_only, normalise

__all__ = [
    "ALPHABET",
    "CIPHERS",
    "BadKeyError",
    "Cipher",
    "LabError",
    "UnknownCipherError",
    "cipher_named",
    "letters_only",
    "normalise",
]
