"""Text normalisation shared by indexing and queries: case folding and stemming."""

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

# Letters and digits; the underscore that \w also matches separates words here.
WORD = re.compile(r"[^\W_]+")
# Case-folded Latin letters that look like Cyrillic ones, and those Cyrillic
# letters. A Cyrillic word that contains them, such as "пенcия" with a Latin
# c, was usually typed with the wrong keyboard layout or copied from such a text.
LATIN_LOOKALIKES = "aeopcyxkmtbh"
CYRILLIC_LOOKALIKES = "аеорсухкмтвн"
_TO_CYRILLIC = str.maketrans(LATIN_LOOKALIKES, CYRILLIC_LOOKALIKES)
_LATIN = re.compile(r"[a-z]")
_CYRILLIC = re.compile(r"[\u0430-\u045f]")
# Characters that are invisible inside a word and do not end it. They are
# the stress marks of Russian dictionaries (combining acute and grave), the
# soft hyphen of hyphenated web and PDF text, the zero-width joiners, the
# word joiner and the byte order mark. A zero-width space (U+200B) marks a
# word boundary, so it still separates words.
_INVISIBLE_IN_WORDS = re.compile("[\u0300\u0301\u00ad\u200c\u200d\u2060\ufeff]")
_local = threading.local()


def fold(text: str) -> str:
    """Return `text` case-folded with ё as е, as Russian readers treat them alike.

    In a word of Cyrillic letters whose Latin letters all look like Cyrillic
    ones, those Latin letters become Cyrillic, so "пенcия" equals "пенсия".
    Words of Latin letters only stay as they are. Stress marks, soft hyphens
    and zero-width joiners are removed, so "пе́нсия" equals "пенсия".
    """
    composed = unicodedata.normalize("NFC", text)
    folded = _INVISIBLE_IN_WORDS.sub("", composed).casefold().replace("ё", "е")
    if not _LATIN.search(folded) or not _CYRILLIC.search(folded):
        return folded
    return WORD.sub(_cyrillic_word, folded)


def _cyrillic_word(match: re.Match) -> str:
    word = match[0]
    latin = set(_LATIN.findall(word))
    if latin and latin <= set(LATIN_LOOKALIKES) and _CYRILLIC.search(word):
        return word.translate(_TO_CYRILLIC)
    return word


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
