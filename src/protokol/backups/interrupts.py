"""Defer Ctrl-C while a restore replaces the data, so it stops before or after."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class DeferredInterrupts:
    """Whether a SIGINT arrived while SIGINT was deferred."""

    received: bool = False

    def record(self, signum, frame) -> None:
        self.received = True


@contextmanager
def defer_interrupts() -> Iterator[DeferredInterrupts]:
    """Record SIGINT instead of raising KeyboardInterrupt until the block ends.

    The caller reads `received` afterwards and stops there. Python delivers
    signals to the main thread only, so in any other thread the block runs
    unchanged.
    """
    deferred = DeferredInterrupts()
    if threading.current_thread() is not threading.main_thread():
        yield deferred
        return

    previous = signal.signal(signal.SIGINT, deferred.record)
    try:
        yield deferred
    finally:
        # None stands for a handler that was not set from Python. Python's
        # own default handler is the closest one it can set back.
        if previous is None:
            previous = signal.default_int_handler
        signal.signal(signal.SIGINT, previous)
