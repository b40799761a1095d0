"""Check digits of Chinese identifiers, used to generate and to check metadata values."""

from __future__ import annotations

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def id_card_check_digit(body17: str) -> str:
    """The 18th character of a citizen ID number (GB 11643-1999)."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS)) % 11]


def id_card_valid(number: str) -> bool:
    return len(number) == 18 and number[:17].isdigit() and id_card_check_digit(number[:17]) == number[17].upper()


def uscc_check_char(body17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015)."""
    return USCC_CHARS[(31 - sum(USCC_CHARS.index(c) * w for c, w in zip(body17, USCC_WEIGHTS)) % 31) % 31]


def uscc_valid(code: str) -> bool:
    return len(code) == 18 and all(c in USCC_CHARS for c in code) and uscc_check_char(code[:17]) == code[17]
