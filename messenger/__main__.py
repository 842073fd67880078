"""``python -m messenger`` / ``messenger``: the desktop app.

Until the desktop window lands, this runs a local relay on 127.0.0.1:5555 and says how to
talk through it with messenger-cli.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from server.__main__ import main as server_main

    print(
        "The desktop window is not built yet; starting a local relay instead.\n"
        "In two other terminals:\n"
        "  .venv/bin/messenger-cli --profile /tmp/bob create\n"
        "  .venv/bin/messenger-cli --profile /tmp/alice join CODE-FROM-BOB\n"
        "then type lines in either.",
        file=sys.stderr,
    )
    return server_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
