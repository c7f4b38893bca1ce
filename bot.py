"""Slate's entry point.

`python bot.py` runs the Discord bot; `python bot.py <command>` runs the same operations
from a shell (see `python bot.py --help`).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    import shell

    return shell.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
