"""Helpers shared by the integration and GUI suites (real relay processes, pre-made keys)."""

from __future__ import annotations

from tests.integration.conftest import Keys, RelayProcess, _new_key_pem

__all__ = ["Keys", "RelayProcess", "make_keys"]


def make_keys(identities: int = 4) -> Keys:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=2) as pool:
        pems = list(pool.map(_new_key_pem, range(1 + identities)))
    return Keys(pems[0], tuple(pems[1:]))
