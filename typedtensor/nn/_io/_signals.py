"""SIGTERM during a save: the temporary file is removed, then the process dies by SIGTERM as it would have.

Only where this changes nothing else: in the main thread, and only while SIGTERM has its default
action. A handler the program installed (or SIG_IGN) is left alone: it decides, and if it raises, the
save's own cleanup runs as for any exception. Otherwise, for the duration of the save, a handler
records the signal and, while the save is armed (from the temporary's creation to the end), raises
``Terminated`` once, which the save handles like any other exception (removing its temporary).
Then the default action is restored and the signal sent again, so the process dies by SIGTERM: its
parent sees the same exit status as without typedtensor. SIGINT needs nothing of this: Python
raises KeyboardInterrupt, which the same cleanup handles.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Generator
from types import FrameType

__all__ = ["Guard", "Terminated", "sigterm_guard"]


class Terminated(BaseException):
    """SIGTERM arrived during a save (internal: the process is killed once the save has cleaned up)."""


class Guard:
    """The temporary SIGTERM handler of one save (inert when it was not installed)."""

    def __init__(self) -> None:
        self.armed = False
        self.pending = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True
        if self.armed:
            self.armed = False
            raise Terminated

    def arm(self) -> None:
        """From now on a SIGTERM interrupts the save (at once if one has already arrived)."""
        self.armed = True
        if self.pending:
            self.armed = False
            raise Terminated

    def disarm(self) -> None:
        self.armed = False


@contextlib.contextmanager
def sigterm_guard() -> Generator[Guard]:
    """A ``Guard`` installed as SIGTERM's handler for the block, where that is safe (module docstring)."""
    guard = Guard()
    previous: object = None
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        try:
            previous = signal.signal(signal.SIGTERM, guard)
        except ValueError:  # not the main interpreter
            previous = None
    if previous is None:
        yield guard
        return
    try:
        try:
            yield guard
        finally:
            guard.disarm()
    except Terminated:
        pass  # cleaned up: die below
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if guard.pending:
            _die()


def _die() -> None:
    """Deliver SIGTERM again, now with its default action."""
    os.kill(os.getpid(), signal.SIGTERM)
    # Only reached if SIGTERM is blocked in every thread (pthread_sigmask): it stays pending, and
    # the save must not look as if it had completed.
    raise SystemExit(128 + signal.SIGTERM)
