"""Shared test setup. Runs before any test module, so before anything imports Qt."""

import os

# Qt picks its platform plugin when the first QGuiApplication starts: without a display
# (CI, ssh) the default xcb plugin aborts the process. `make test` sets this too.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
