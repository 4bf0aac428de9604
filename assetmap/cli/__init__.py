"""The ``assetmap`` command line.

The parser (:mod:`.parser`), the commands by what they do (:mod:`.data`, :mod:`.analysis`, :mod:`.community`,
:mod:`.deploy`) and what they share (:mod:`._common`). Importing it stays light: each command imports what it needs
when it runs.

Exit status: 0 when every file was taken (quarantined rows included), 2 when a file was
refused as a whole or the command's input is wrong, 1 on an unexpected error.
"""

from __future__ import annotations

import logging
import os
import sys

from assetmap.cli._common import log
from assetmap.cli.parser import _without_up_separator, build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: the process's); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(_without_up_separator(sys.argv[1:] if argv is None else argv))
    level = logging.WARNING - 10 * min(args.verbose, 2)
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(level=level, format="%(message)s",
                        handlers=[RichHandler(show_path=False, console=Console(stderr=True))], force=True)
    from assetmap.errors import AssetmapError

    try:
        return int(args.func(args) or 0)
    except (AssetmapError, ValueError) as exc:  # what the user can fix (and a bad number they gave)
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output went away (`assetmap ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
