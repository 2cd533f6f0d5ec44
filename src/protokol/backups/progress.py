"""tqdm progress bars over bytes for the backup and restore commands."""

import sys
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def byte_progress(description: str, *, enabled: bool):
    """Yield a progress factory for the services; close its bar at the end."""
    bars = []

    def factory(total: int):
        bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=description,
            file=sys.stderr,
            disable=not enabled,
        )
        bars.append(bar)
        return bar.update

    try:
        yield factory
    finally:
        for bar in bars:
            bar.close()
