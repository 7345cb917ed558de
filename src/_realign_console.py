"""The ``realign`` console script.

It imports realign only once it runs, so that a Ctrl-C during that import (a second or so on a slow disk)
ends the command as one during the run does: one line and exit 130, not Python's traceback. It lives
outside the realign package: importing any module of the package imports the whole package first.
"""

from __future__ import annotations

import signal
import sys

#: 128 + SIGINT, as the CLI's own exit code for an interruption
EXIT_SIGINT = 130


def main() -> int:
    """Run the ``realign`` command line (``sys.argv``); its exit code."""
    try:
        from realign._cli import main as run
    except KeyboardInterrupt:
        print("interrupted (SIGINT); no output written", file=sys.stderr)
        return EXIT_SIGINT
    try:
        code = run()
    except KeyboardInterrupt:  # outside the run's own wording (parsing the arguments, or once it ended)
        print("interrupted (SIGINT)", file=sys.stderr)  # the output may have been written by then
        return EXIT_SIGINT
    # The exit code is decided: a Ctrl-C while Python shuts down must not turn it into a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code
