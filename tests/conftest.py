"""Shared test setup. Runs before any test module, so before anything imports Qt."""

import os

import pytest

# Qt picks its platform plugin when the first QGuiApplication starts: without a display
# (CI, ssh) the default xcb plugin aborts the process. `make test` sets this too.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def keys():
    """Pre-made relay and identity keys for the integration and GUI suites (RSA-3072
    generation takes seconds each), made once per test run."""
    from tests.support import make_keys

    return make_keys()
