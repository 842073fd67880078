"""Shared test setup. Runs before any test module, so before anything imports Qt."""

import os

import pytest

# Qt picks its platform plugin when the first QGuiApplication starts: without a display
# (CI, ssh) the default xcb plugin aborts the process. `make test` sets this too.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Profiles without a passphrase keep their database key in the system keyring when there is
# one: the suite (and every messenger-cli it starts) must not fill the developer's keyring,
# so keyring's "fail" backend is chosen and the key goes to db.key. Unit tests that need a
# keyring pass a fake one (tests/unit/fake_keyring.py).
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture(scope="session")
def keys():
    """Pre-made relay and identity keys for the integration and GUI suites (RSA-3072
    generation takes seconds each), made once per test run."""
    from tests.support import make_keys

    return make_keys()
