"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, checked.

Characters are 0-9 and the capital letters without I, O, Z, S, V; the 18th is a check
character: 31 - (sum of value x weight) mod 31, weights 3^(i) mod 31.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    """The check character for the first 17 characters; raises ValueError on a bad character."""
    if len(first17) != 17:
        raise ValueError("need the first 17 characters")
    total = 0
    for ch, weight in zip(first17, WEIGHTS, strict=True):
        if ch not in _VALUE:
            raise ValueError(f"character {ch!r} is not allowed in a credit code")
        total += _VALUE[ch] * weight
    return ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: object) -> str | None:
    """None when the code is valid, else the reason it is not."""
    if not isinstance(code, str):
        return "a credit code must be a string"
    if len(code) != 18:
        return f"a credit code has 18 characters, not {len(code)}"
    bad = [ch for ch in code if ch not in _VALUE]
    if bad:
        return f"character {bad[0]!r} is not allowed in a credit code"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r} but should be {expected!r}"
    return None
