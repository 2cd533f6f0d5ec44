"""Normalising and checking personal identifiers."""

from datetime import UTC, datetime

import pytest
from django.utils import translation

from protokol.errors import ValidationFailed
from protokol.personal import validators as v

VALID = [
    ("inn", "7707083893", "7707083893"),
    ("inn", " 5027 3188 4666 ", "502731884666"),
    ("snils", "112-233-445 95", "11223344595"),
    ("snils", "11223344595", "11223344595"),
    ("snils", "274 615 803 89", "27461580389"),
    # Numbers up to 001-001-998 predate the checksum.
    ("snils", "001-001-998 00", "00100199800"),
    ("passport", "45 19 731946", "4519731946"),
    ("passport", "4519 № 731946", "4519731946"),
    ("passport", "４５１９７３１９４６", "4519731946"),
    ("phone", "+7 (916) 482-07-35", "+79164820735"),
    ("phone", "8 916 482 07 35", "+79164820735"),
    ("phone", "9164820735", "+79164820735"),
    ("phone", "+44 20 7946 0958", "+442079460958"),
    ("postal_address", "  г. Санкт-Петербург, Невский пр., д. 1 ", None),
    # ОГРН of ПАО Сбербанк and of Банк ВТБ, from the state register.
    ("ogrn", "1027700132195", "1027700132195"),
    ("ogrn", "1027739609391", "1027739609391"),
    # A sole trader's ОГРНИП of 15 digits.
    ("ogrn", "304500116000157", "304500116000157"),
    ("ogrn", "1 02 77 00 13219 5", "1027700132195"),
    ("email", " Anna.Ivanova@Example.RU ", "Anna.Ivanova@example.ru"),
    ("email", "anna@Пример.рф", "anna@пример.рф"),
    ("date", "2026-03-31", "2026-03-31"),
    ("date", "31.03.2026", "2026-03-31"),
    ("date", "1.3.1990", "1990-03-01"),
]

INVALID = [
    ("inn", "7707083894", "check digits"),
    ("inn", "502731884665", "check digits"),
    ("inn", "12345", "5 digits"),
    ("inn", "77070838ab", "only digits"),
    ("snils", "112-233-445 96", "checksum"),
    ("snils", "112-233-445", "9 digits"),
    ("passport", "4519 73194", "9 digits"),
    ("passport", "45AB 731946", "only digits"),
    ("phone", "12345", "5 digits"),
    ("phone", "+0 123 456 789", "does not start with 0"),
    ("phone", "+7 916 482 07 35 12 34 56", "8 to 15 digits"),
    ("postal_address", "a" * 501, "500"),
    ("ogrn", "1027700132196", "check digit"),
    ("ogrn", "304500116000158", "check digit"),
    ("ogrn", "316774600373432", "check digit"),
    ("ogrn", "102770013219", "12 digits"),
    ("ogrn", "10277001321955", "14 digits"),
    ("ogrn", "10277OO132195", "only digits"),
    ("email", "anna.example.ru", "not a valid e-mail"),
    ("email", "anna@", "not a valid e-mail"),
    ("date", "2026-02-30", "not a valid date"),
    ("date", "31/03/2026", "not a valid date"),
    ("date", "32.01.2026", "not a valid date"),
]


@pytest.mark.parametrize(("field", "value", "expected"), VALID)
def test_valid_value_normalised(field, value, expected):
    assert v.normalise(field, value) == (expected or value.strip())


@pytest.mark.parametrize(("field", "value", "reason"), INVALID)
def test_invalid_value_rejected(field, value, reason):
    # The reasons are English source text, which a Russian catalog would replace.
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        v.normalise(field, value)

    assert caught.value.field == field
    assert reason in caught.value.message
    # Error messages reach logs and pages, so they never repeat the value.
    assert value.strip() not in caught.value.message
    assert v.SEPARATORS.sub("", value) not in caught.value.message


def test_non_string_rejected():
    with pytest.raises(ValidationFailed) as caught:
        v.normalise("inn", 7707083893)

    assert caught.value.field == "inn"


def test_unknown_field_is_text():
    assert v.normalise("birth_place", " Тверь ") == "Тверь"


def test_clean_values_lists_every_error():
    with pytest.raises(ValidationFailed) as caught:
        v.clean_values(
            {"inn": "7707083894", "snils": "112-233-445 95", "car": "A123BC"},
            allowed=["inn", "snils"],
        )

    errors = caught.value.extra["errors"]
    assert caught.value.field == "inn"
    assert [e["field"] for e in errors] == ["inn", "car"]


def test_clean_values_drops_empty():
    cleaned = v.clean_values({"inn": "", "snils": None}, allowed=["inn", "snils"])

    assert cleaned == {}


def test_snils_checksum_over_101():
    # 9·9 + 8·9 + … + 1·9 = 405, and 405 mod 101 = 1.
    assert v.snils_checksum("999999999") == "01"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("birth_date", "0001-01-01", "before 1900"),
        ("birth_date", "31.12.1899", "before 1900"),
        ("passport_issue_date", "1899-12-31", "before 1900"),
        ("birth_date", "9999-12-31", "in the future"),
        ("issue_date", "01.01.3000", "in the future"),
    ],
)
def test_implausible_past_date_rejected(field, value, reason):
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        v.normalise_as("date", value, field)

    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field} is ")
    assert reason in caught.value.message


def test_past_date_bounds_accepted():
    today = datetime.now(UTC).date().isoformat()

    assert v.normalise_as("date", "01.01.1900", "birth_date") == "1900-01-01"
    assert v.normalise_as("date", today, "passport_issue_date") == today


def test_future_date_of_other_field_accepted():
    assert v.normalise_as("date", "2999-01-01", "visit_date") == "2999-01-01"
    assert v.normalise_as("date", "0001-01-01", "date") == "0001-01-01"


def test_choice_accepts_listed_value():
    assert v.normalise_as("choice", " loss ", "reason", ("age", "loss")) == "loss"


def test_choice_rejects_other_value():
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        v.normalise_as("choice", "stolen", "reason", ("age", "loss"))

    assert caught.value.field == "reason"
    assert "age, loss" in caught.value.message


def test_typed_field_checked_by_its_type():
    kinds = {"company": ("ogrn", ()), "contact": ("email", ())}

    with pytest.raises(ValidationFailed) as caught:
        v.clean_values(
            {"company": "1027700132196", "contact": "a@b.ru"},
            allowed=["company", "contact"],
            kinds=kinds,
        )

    assert caught.value.field == "company"
    assert [e["field"] for e in caught.value.extra["errors"]] == ["company"]


def test_clean_values_requires_named_fields():
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        v.clean_values(
            {"inn": "", "snils": "112-233-445 95"},
            allowed=["inn", "snils"],
            required=["inn", "snils"],
        )

    assert caught.value.field == "inn"
    assert "required" in caught.value.message
    assert [e["field"] for e in caught.value.extra["errors"]] == ["inn"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("inn", "0000000000"),
        ("inn", "0000 0000 0000"),
        ("snils", "000-000-000 00"),
        ("ogrn", "0000000000000"),
        ("ogrn", "000000000000000"),
        ("passport", "00 00 000000"),
    ],
)
def test_all_zero_number_rejected(field, value):
    # Zeros pass every check digit rule, and no such number is ever issued.
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        v.normalise(field, value)

    assert caught.value.field == field
    assert "zeros" in caught.value.message
