"""Stand-ins for the ``keyring`` module: one that works, one that fails, one that forgets."""

from __future__ import annotations


class FakeKeyringError(RuntimeError):
    """What a real backend raises when it is locked or not running."""


class FakeKeyring:
    """An in-memory keyring; ``fail_set`` / ``fail_get`` make it raise like a locked one,
    ``forgets`` makes it accept passwords and keep none (like keyring's null backend)."""

    def __init__(
        self, *, fail_set: bool = False, fail_get: bool = False, forgets: bool = False
    ) -> None:
        self.entries: dict[tuple[str, str], str] = {}
        self.fail_set = fail_set
        self.fail_get = fail_get
        self.forgets = forgets
        self.deleted: list[tuple[str, str]] = []

    def get_password(self, service_name: str, username: str) -> str | None:
        if self.fail_get:
            raise FakeKeyringError("the keyring is locked")
        return self.entries.get((service_name, username))

    def set_password(self, service_name: str, username: str, password: str) -> None:
        if self.fail_set:
            raise FakeKeyringError("no keyring backend")
        if not self.forgets:
            self.entries[(service_name, username)] = password

    def delete_password(self, service_name: str, username: str) -> None:
        self.deleted.append((service_name, username))
        self.entries.pop((service_name, username), None)
