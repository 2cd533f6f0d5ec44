"""Common names of the PKI's certificates, which cryptography caps at 64 bytes."""

import pytest

from protokol.signing.pki import MAX_COMMON_NAME_BYTES, _fit


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Контакт-центр", "Контакт-центр"),
        ("Контакт-центр государственных услуг", "Контакт-центр государственных…"),
        ("Ж" * 40, "Ж" * 30 + "…"),
    ],
)
def test_long_common_name_cut_at_word(name, expected):
    fitted = _fit(name)

    assert fitted == expected
    assert len(fitted.encode()) <= MAX_COMMON_NAME_BYTES
