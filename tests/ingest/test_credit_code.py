"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, the 18th a check.

The expected check characters were worked by hand, not by the code under test. For
91350100M000100Y43 (the standard's own example): values 9 1 3 5 0 1 0 0 21 0 0 0 1 0 0 30 4 times
weights 3^i mod 31 = 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28 sum to 1640; 1640 mod 31 = 28;
31 - 28 = 3. For 913201002496827567: the sum is 1078; 1078 mod 31 = 24; 31 - 24 = 7.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.ingest.credit_code import ALPHABET, WEIGHTS, check_character, credit_code_problem
from monitor.ingest.outcome import Rejection
from monitor.ingest.values import credit_code

VALID = ["91350100M000100Y43", "913201002496827567"]


@pytest.mark.parametrize("code", VALID)
def test_a_real_code_is_valid(code: str) -> None:
    assert credit_code_problem(code) is None


@pytest.mark.parametrize(("code", "check"), [("91350100M000100Y43", "3"), ("913201002496827567", "7")])
def test_the_check_character_is_the_hand_worked_one(code: str, check: str) -> None:
    assert check_character(code[:17]) == check


def test_a_sum_divisible_by_31_checks_with_0_and_one_past_with_y() -> None:
    assert check_character("0" * 17) == "0"
    assert check_character("1" + "0" * 16) == "Y"  # 31 - 1 = 30, the last character


def test_the_weights_are_the_powers_of_3_mod_31() -> None:
    assert tuple(3**i % 31 for i in range(17)) == WEIGHTS


def test_the_alphabet_leaves_out_i_o_z_s_v() -> None:
    assert len(ALPHABET) == 31
    assert not set("IOZSV") & set(ALPHABET)


@pytest.mark.parametrize(("code", "expected"), [("91350100M000100Y44", "3"), ("913201002496827566", "7")])
def test_a_wrong_check_character_is_refused_naming_the_right_one(code: str, expected: str) -> None:
    assert credit_code_problem(code) == f"check character is {code[17]!r} but should be {expected!r}"


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_a_letter_outside_the_alphabet_is_refused(letter: str) -> None:
    code = "91350100" + letter + "000100Y43"
    assert credit_code_problem(code) == f"character {letter!r} is not allowed in a credit code"


@pytest.mark.parametrize("code", ["91350100m000100y43", "91350100M000100Y4-", "9135 100M000100Y43"])
def test_lower_case_and_punctuation_are_refused(code: str) -> None:
    problem = credit_code_problem(code)
    assert problem is not None and "is not allowed" in problem


@pytest.mark.parametrize("code", ["", "91350100M000100Y4", "91350100M000100Y433", "9135010"])
def test_a_code_of_the_wrong_length_is_refused(code: str) -> None:
    assert credit_code_problem(code) == f"a credit code has 18 characters, not {len(code)}"


@pytest.mark.parametrize("value", [None, 913201002496827567, ["91350100M000100Y43"]])
def test_a_code_that_is_not_text_is_refused(value: object) -> None:
    assert credit_code_problem(value) == "a credit code must be a string"


def test_ingest_accepts_blanks_and_lower_case_and_stores_the_canonical_code() -> None:
    assert credit_code(" 91350100m000100y43 ", "enterprise") == "91350100M000100Y43"


def test_ingest_rejects_a_bad_code_naming_the_field() -> None:
    with pytest.raises(Rejection) as err:
        credit_code("91350100M000100Y44", "enterprise")
    assert err.value.field == "enterprise"


_code = st.text(alphabet=ALPHABET, min_size=17, max_size=17).map(lambda first: first + check_character(first))


@given(_code, st.integers(0, 17), st.sampled_from(ALPHABET))
def test_any_single_wrong_character_is_caught(code: str, position: int, replacement: str) -> None:
    changed = code[:position] + replacement + code[position + 1 :]
    assert (credit_code_problem(changed) is None) == (changed == code)


@given(_code, st.integers(0, 16))
def test_any_swap_of_two_neighbouring_characters_is_caught(code: str, position: int) -> None:
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    assert (credit_code_problem(swapped) is None) == (swapped == code)
