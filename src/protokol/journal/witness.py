"""A witness: accept a log's checkpoints only while each extends the last one accepted.

The state file is JSON with the verifier key and the last accepted checkpoint
(origin, size, base64 root and the note as served).
"""

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from protokol.journal import merkle
from protokol.journal.checkpoints import (
    CheckpointNote,
    NoteInvalid,
    parse_verifier_key,
    verify_note,
)

TIMEOUT_SECONDS = 10


class WitnessFailed(Exception):
    """The log's checkpoint cannot be accepted: bad signature, fork or rollback."""


@dataclass(frozen=True)
class Accepted:
    """A checkpoint the witness has accepted, and the size it was accepted after."""

    checkpoint: CheckpointNote
    previous_size: int | None


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise WitnessFailed(
            f"GET {url} failed with HTTP {error.code}: {detail}"
        ) from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise WitnessFailed(f"GET {url} failed: {error}") from error


def _load_state(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise WitnessFailed(
            f"state file {path} is not readable JSON: {error}"
        ) from error


def _save_state(path: Path, key: str, checkpoint: CheckpointNote) -> None:
    state = {
        "verifier_key": key,
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root": base64.b64encode(checkpoint.root).decode(),
        "checkpoint": checkpoint.text,
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    # Rename, so a crash never leaves a half-written state behind.
    os.replace(temporary, path)


def witness(base_url: str, state_path: Path, key: str | None = None) -> Accepted:
    """Fetch the log's checkpoint, check it against the state and store it.

    Args:
        base_url: the server's address, such as http://127.0.0.1:8000.
        state_path: JSON file with the last accepted checkpoint; created on
            the first run.
        key: signed-note verifier key `<name>+<hex id>+<base64>`; required
            when the state file does not have one yet.

    Raises:
        WitnessFailed: the signature does not verify, the origin or key
            changed, the log shrank, or the consistency proof from the last
            accepted checkpoint does not verify (a fork or a rewrite).
    """
    state = _load_state(state_path)
    if key is None and state is None:
        raise WitnessFailed(
            f"no verifier key: pass --key, or a --state file that has one "
            f"({state_path} does not exist)"
        )
    if key is not None and state is not None and key != state["verifier_key"]:
        raise WitnessFailed(
            f"--key differs from the key in {state_path}; the log's key must not "
            "change, or start a new state file"
        )
    key = key if key is not None else state["verifier_key"]
    try:
        verifier = parse_verifier_key(key)
    except NoteInvalid as error:
        raise WitnessFailed(str(error)) from error

    api = base_url.rstrip("/") + "/api/v1/journal"
    text = _get(f"{api}/checkpoint").decode()
    try:
        checkpoint = verify_note(text, verifier)
    except NoteInvalid as error:
        raise WitnessFailed(f"checkpoint rejected, possibly forged: {error}") from error

    previous_size = None
    if state is not None:
        previous_size = state["size"]
        _check_extends(api, state, checkpoint)
    _save_state(state_path, key, checkpoint)
    return Accepted(checkpoint=checkpoint, previous_size=previous_size)


def _check_extends(api: str, state: dict, checkpoint: CheckpointNote) -> None:
    old_size = state["size"]
    old_root = base64.b64decode(state["root"])
    if checkpoint.origin != state["origin"]:
        raise WitnessFailed(
            f"origin changed from '{state['origin']}' to '{checkpoint.origin}'"
        )
    if checkpoint.size < old_size:
        raise WitnessFailed(
            f"rollback: the log now has {checkpoint.size} entries, fewer than the "
            f"{old_size} already accepted"
        )
    if checkpoint.size == old_size:
        if checkpoint.root != old_root:
            raise WitnessFailed(f"fork: two different roots signed for size {old_size}")
        return
    if old_size == 0:
        return

    query = urllib.parse.urlencode({"old": old_size, "new": checkpoint.size})
    response = _get(f"{api}/proofs/consistency?{query}")
    try:
        proof = [bytes.fromhex(node) for node in json.loads(response)["hashes"]]
    except (ValueError, KeyError, TypeError) as error:
        raise WitnessFailed(
            f"consistency proof response is malformed: {error}"
        ) from error
    if not merkle.verify_consistency(
        old_size, checkpoint.size, old_root, checkpoint.root, proof
    ):
        raise WitnessFailed(
            f"fork or rewrite: the log at size {checkpoint.size} does not extend "
            f"the accepted checkpoint at size {old_size} (the consistency proof "
            "does not verify)"
        )
