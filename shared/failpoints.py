"""Crash points for fault-injection tests: `CDT_FAILPOINTS=name[,name]` ends the process there.

They let the tests kill a process at the exact moments that matter (after a database commit and
before the offset commit; after the broker's acks and before marking rows sent), which random
timing can only hit by luck. Unset, each check is one dictionary lookup.
"""

import os

_ACTIVE = frozenset(filter(None, os.environ.get("CDT_FAILPOINTS", "").split(",")))


def hit(name: str) -> None:
    """Die like SIGKILL would (no cleanup, no flush) when the failpoint is armed."""
    if name in _ACTIVE:
        os._exit(137)
