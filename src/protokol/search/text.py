"""Text normalisation shared by indexing and queries: case folding and stemming."""

import re
import threading
from functools import lru_cache

import snowballstemmer

# Letters and digits; the underscore that \w also matches separates words here.
WORD = re.compile(r"[^\W_]+")
_local = threading.local()


def fold(text: str) -> str:
    """Return `text` case-folded with ё as е, as Russian readers treat them alike."""
    return text.casefold().replace("ё", "е")


def words(text: str) -> list[str]:
    """Return the folded words of `text` in order."""
    return WORD.findall(fold(text))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Return the Snowball Russian stem of a folded word; Latin words pass as is."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        # A stemmer object keeps state between calls, so each thread has its own.
        stemmer = _local.stemmer = snowballstemmer.stemmer("russian")
    return stemmer.stemWord(word)


def stems(text: str) -> list[str]:
    """Return the stem of each word of `text`, in order."""
    return [stem(word) for word in words(text)]
