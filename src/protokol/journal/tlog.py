"""The C2SP tlog-proof file format (c2sp.org/tlog-proof@v1) of inclusion proofs."""

import base64
import binascii

from django.utils.translation import gettext

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"


def tlog_proof_text(index: int, proof: list[bytes], note: str) -> str:
    """Return a c2sp.org/tlog-proof@v1 file, as `protokol journal prove` writes it."""
    lines = [TLOG_PROOF_HEADER, f"index {index}"]
    lines += [base64.b64encode(node).decode() for node in proof]
    return "\n".join(lines) + "\n\n" + note


def parse_tlog_proof(text: str) -> tuple[int, list[bytes], str]:
    """Return the index, the audit path and the checkpoint note of a tlog proof.

    Raises:
        ValueError: the text is not a c2sp.org/tlog-proof@v1 file.
    """
    head, separator, note = text.partition("\n\n")
    lines = head.split("\n")
    if not separator or lines[0] != TLOG_PROOF_HEADER:
        raise ValueError(
            gettext("the proof does not start with %(header)s")
            % {"header": TLOG_PROOF_HEADER}
        )
    position = 1
    # Optional "extra" lines precede the index line.
    while position < len(lines) and lines[position].startswith("extra "):
        position += 1
    if position >= len(lines) or not lines[position].startswith("index "):
        raise ValueError(gettext("the proof has no index line"))
    try:
        index = int(lines[position].removeprefix("index "))
        path = [base64.b64decode(line, validate=True) for line in lines[position + 1 :]]
    except binascii.Error as error:
        raise ValueError(gettext("the proof has a hash that is not base64")) from error
    return index, path, note
