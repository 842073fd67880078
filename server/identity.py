"""The relay's long-term RSA-3072 key: created once, pinned by every client.

``DIR/server_key.pem`` holds the private key (PKCS#8 PEM, mode 0600, not passphrase-protected
so the relay can start unattended: protect the data directory) and ``DIR/server_key.pub.pem``
the public key to hand to people who want to pin it in advance.
"""

from __future__ import annotations

from pathlib import Path

from messenger.crypto.rsa import IdentityKey, KeyFileError, PublicKey
from messenger.store.files import write_private

PRIVATE_NAME = "server_key.pem"
PUBLIC_NAME = "server_key.pub.pem"


class ServerKeyError(Exception):
    """The relay's key cannot be read or written."""


def private_key_path(data_dir: Path) -> Path:
    return data_dir / PRIVATE_NAME


def generate(data_dir: Path, *, overwrite: bool = False) -> IdentityKey:
    """Make a new key and write both files. Refuses to replace an existing key silently."""
    path = private_key_path(data_dir)
    if path.exists() and not overwrite:
        raise ServerKeyError(
            f"{path} already exists. Every client has pinned it; replacing it makes them refuse "
            "this server. Use --force if you really mean to."
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = IdentityKey.generate()
    write_private(path, key.to_pem())
    write_private(data_dir / PUBLIC_NAME, key.public.to_pem(), 0o644)
    return key


def load(data_dir: Path) -> IdentityKey:
    path = private_key_path(data_dir)
    try:
        return IdentityKey.from_pem(path.read_bytes())
    except FileNotFoundError:
        raise ServerKeyError(
            f"No server key in {data_dir}: run `messenger-server keygen --data-dir {data_dir}`."
        ) from None
    except (OSError, KeyFileError) as exc:
        raise ServerKeyError(f"Cannot use {path}: {exc}") from None


def load_or_generate(data_dir: Path) -> IdentityKey:
    if private_key_path(data_dir).exists():
        return load(data_dir)
    return generate(data_dir)


def load_public(data_dir: Path) -> PublicKey:
    """The public key alone (for ``fingerprint``), from either file."""
    public = data_dir / PUBLIC_NAME
    try:
        if public.exists():
            return PublicKey.from_pem(public.read_bytes())
    except KeyFileError:
        pass
    return load(data_dir).public
