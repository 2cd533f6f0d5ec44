"""Creating files that hold keys and other secrets."""

import os
from pathlib import Path


def create_private_file(path: Path, data: bytes) -> bool:
    """Create `path` with mode 0600 and write `data`; return False if it exists.

    O_EXCL makes creation atomic: when two processes generate a key at once,
    the first one's file is kept and the other gets False.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return True
