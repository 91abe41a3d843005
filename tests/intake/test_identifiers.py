from dataclasses import FrozenInstanceError
from datetime import date

import pytest

from bot.core.identifiers import (
    PERSONNUMMER_SYSTEMS,
    SAMORDNINGSNUMMER_SYSTEMS,
    IdentifierError,
    PersonalIdentity,
    format_personal_number,
    kind_for_system,
    luhn_check_digit,
    parse_personal_number,
)

TODAY = date(2026, 11, 12)


def pnr(value: str, *, today: date = TODAY) -> PersonalIdentity:
    return parse_personal_number(value, kind="personnummer", today=today)


def snr(value: str, *, today: date = TODAY) -> PersonalIdentity:
    return parse_personal_number(value, kind="samordningsnummer", today=today)


def error_of(value: str, kind: str = "personnummer", today: date = TODAY) -> str:
    with pytest.raises(IdentifierError) as info:
        parse_personal_number(value, kind=kind, today=today)  # type: ignore[arg-type]
    return str(info.value)


def test_systems():
    assert PERSONNUMMER_SYSTEMS == {
        "http://electronichealth.se/identifier/personnummer",
        "urn:oid:1.2.752.129.2.1.3.1",
    }
    assert SAMORDNINGSNUMMER_SYSTEMS == {
        "http://electronichealth.se/identifier/samordningsnummer",
        "urn:oid:1.2.752.129.2.1.3.3",
    }


@pytest.mark.parametrize(
    ("system", "kind"),
    [
        ("http://electronichealth.se/identifier/personnummer", "personnummer"),
        ("urn:oid:1.2.752.129.2.1.3.1", "personnummer"),
        ("http://electronichealth.se/identifier/samordningsnummer", "samordningsnummer"),
        ("urn:oid:1.2.752.129.2.1.3.3", "samordningsnummer"),
        ("urn:oid:1.2.752.29.4.19", None),
        ("urn:oid:1.2.752.129.2.1.3.2", None),
        ("", None),
        ("HTTP://ELECTRONICHEALTH.SE/IDENTIFIER/PERSONNUMMER", None),
    ],
)
def test_kind_for_system(system, kind):
    assert kind_for_system(system) == kind


def test_error_is_a_value_error():
    assert issubclass(IdentifierError, ValueError)


@pytest.mark.parametrize(
    ("nine", "check"),
    [
        ("811218987", 6),  # Skatteverket's example 811218-9876
        ("701063239", 1),  # Skatteverket's samordningsnummer example 701063-2391
        ("520314238", 4),
        ("000000000", 0),
    ],
)
def test_luhn_check_digit(nine, check):
    assert luhn_check_digit(nine) == check


def test_twelve_digits():
    assert pnr("198112189876") == PersonalIdentity(
        number="198112189876", kind="personnummer", birth_date=date(1981, 12, 18)
    )


def test_twelve_digits_with_dash():
    assert pnr("19811218-9876") == PersonalIdentity(
        number="198112189876", kind="personnummer", birth_date=date(1981, 12, 18)
    )


def test_surrounding_whitespace_is_ignored():
    assert pnr("  19811218-9876\n").number == "198112189876"


def test_ten_digits_with_dash_is_under_100():
    assert pnr("811218-9876") == PersonalIdentity(
        number="198112189876", kind="personnummer", birth_date=date(1981, 12, 18)
    )


def test_ten_digits_with_plus_is_100_or_older():
    assert pnr("811218+9876") == PersonalIdentity(
        number="188112189876", kind="personnummer", birth_date=date(1881, 12, 18)
    )


def test_ten_digits_dash_born_this_year():
    assert pnr("260301-1236").number == "202603011236"


def test_ten_digits_plus_same_digits_is_a_century_earlier():
    assert pnr("260301+1236").number == "192603011236"


def test_plus_from_the_year_of_the_100th_birthday():
    # SPEC 8: "+" from the year of the 100th birthday, even before the birthday itself.
    assert pnr("261201+1235").birth_date == date(1926, 12, 1)


def test_dash_in_the_year_of_the_100th_birthday_is_a_future_date():
    assert error_of("261201-1235") == "the personnummer has a date of birth in the future"


def test_fixture_numbers():
    assert pnr("195203142384").birth_date == date(1952, 3, 14)
    assert pnr("194101223065").birth_date == date(1941, 1, 22)
    assert pnr("198104194553").birth_date == date(1981, 4, 19)


def test_samordningsnummer_day_minus_60():
    assert snr("195803751204") == PersonalIdentity(
        number="195803751204", kind="samordningsnummer", birth_date=date(1958, 3, 15)
    )


def test_samordningsnummer_ten_digits():
    assert snr("701063-2391") == PersonalIdentity(
        number="197010632391", kind="samordningsnummer", birth_date=date(1970, 10, 3)
    )


def test_samordningsnummer_last_day_of_month():
    assert snr("20010191-1238").birth_date == date(2001, 1, 31)


def test_samordningsnummer_day_92_is_invalid():
    assert error_of("20010192-1237", "samordningsnummer") == (
        "the samordningsnummer does not contain a valid date of birth"
    )


def test_samordningsnummer_needs_day_plus_60():
    assert error_of("198112189876", "samordningsnummer") == (
        "a samordningsnummer must have the day of birth plus 60 (day 61-91)"
    )


def test_personnummer_with_samordning_day():
    assert error_of("195803751204") == (
        "a personnummer cannot have a day above 60 (that is a samordningsnummer)"
    )


def test_leap_day():
    assert pnr("20000229-1235").birth_date == date(2000, 2, 29)


def test_leap_day_in_1900_does_not_exist():
    assert error_of("000229+1235") == "the personnummer does not contain a valid date of birth"


def test_leap_day_ten_digits_picks_2000():
    assert pnr("000229-1235").number == "200002291235"


@pytest.mark.parametrize(
    "value",
    [
        "19810230-1234",  # 30 February
        "19811318-9876",  # month 13
        "19810018-9876",  # month 0
        "19811200-9876",  # day 0
        "19810431-1234",  # 31 April
    ],
)
def test_bad_date(value):
    assert error_of(value) == "the personnummer does not contain a valid date of birth"


def test_bad_check_digit():
    assert error_of("195001012345") == "the personnummer has an invalid check digit"


def test_bad_check_digit_samordningsnummer():
    assert error_of("195803751205", "samordningsnummer") == (
        "the samordningsnummer has an invalid check digit"
    )


def test_future_birth_date():
    assert error_of("20261201-1235") == "the personnummer has a date of birth in the future"


def test_birth_date_today_is_accepted():
    assert pnr("202611121233", today=date(2026, 11, 12)).birth_date == date(2026, 11, 12)


@pytest.mark.parametrize(
    "value",
    [
        "19811218987",  # 11 digits
        "1981121898760",  # 13 digits
        "8112189876",  # 10 digits need a separator
        "19811218+9876",  # "+" only in the 10-digit form
        "811218--9876",
        "1981-12-18-9876",
        "",
    ],
)
def test_bad_layout(value):
    message = error_of(value)
    assert message.startswith("the personnummer ")


def test_bad_length_message():
    assert error_of("19811218987") == (
        "the personnummer has 11 digits in an unknown layout; expected YYYYMMDDNNNC, "
        "YYYYMMDD-NNNC, YYMMDD-NNNC or YYMMDD+NNNC"
    )


def test_empty_message():
    assert error_of("   ") == "the personnummer is empty"


@pytest.mark.parametrize("value", ["19811218987X", "19811218 9876", "1981121８9876", "811218/9876"])
def test_non_digits(value):
    assert error_of(value) == (
        "the personnummer contains characters other than digits and a '-' or '+' separator"
    )


def test_messages_never_contain_the_number():
    for value in ["195001012345", "19810230-1234", "20261201-1235", "19811218987X"]:
        message = error_of(value)
        assert "1234" not in message
        assert "2345" not in message
        assert "987" not in message


def test_non_string_is_an_identifier_error():
    assert error_of(198112189876) == "a personnummer must be a string"  # type: ignore[arg-type]


def test_unknown_kind_is_a_value_error():
    with pytest.raises(ValueError, match="unknown identity kind 'ssn'"):
        parse_personal_number("198112189876", kind="ssn", today=TODAY)  # type: ignore[arg-type]


def test_identity_is_frozen():
    identity = pnr("198112189876")
    with pytest.raises(FrozenInstanceError):
        identity.number = "x"  # type: ignore[misc]


def test_format_personal_number():
    assert format_personal_number("198112189876") == "19811218-9876"
    assert format_personal_number("195803751204") == "19580375-1204"


@pytest.mark.parametrize("value", ["8112189876", "19811218-9876", "19811218987X", ""])
def test_format_personal_number_rejects_non_12_digits(value):
    with pytest.raises(IdentifierError, match="must be 12 digits"):
        format_personal_number(value)
