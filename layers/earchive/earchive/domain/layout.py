"""The archive information package's layout: the names every packer and checker agrees on.

Kept apart from the code that builds packages so that the check (which must
judge a package it did not make) reads the format from here, not from the packer.
See ADR 0001 for the naming rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

METADATA_NAME = "基本信息元数据.xml"
CATEGORIES = ("申报文件", "过程文件", "结果文件")
FOLDER_IDS = {"申报文件": "A", "过程文件": "B", "结果文件": "C"}
# 电子文件号: region-fonds-item-year-retention-serial
RECORD_CODE_RE = re.compile(r"^(\d{6})-([0-9A-Za-z]{1,10})-([0-9A-Za-z]{1,40})-(\d{4})-(Y|D30|D10)-(\d{6})$")

MANIFEST_SM3 = "manifest-sm3.txt"
MANIFEST_SHA256 = "manifest-sha256.txt"
SIGNATURE = "manifest-sha256.txt.p7s"
TIMESTAMP = "manifest-sha256.txt.p7s.tsr"
SEAL_FILES = (MANIFEST_SM3, MANIFEST_SHA256, SIGNATURE, TIMESTAMP)
# The 国密 seal (ADR 0020): SM2 signs the SM3 manifest, so no SHA-256 is on the path from a file to the signature.
GM_SIGNATURE = "manifest-sm3.txt.p7s"
GM_TIMESTAMP = "manifest-sm3.txt.p7s.tsr"
GM_SEAL_FILES = (MANIFEST_SM3, MANIFEST_SHA256, GM_SIGNATURE, GM_TIMESTAMP)
ALL_SEAL_NAMES = frozenset(SEAL_FILES + GM_SEAL_FILES)


@dataclass(frozen=True)
class SealLayout:
    """Which manifest the seal signs, and the names of its signature and timestamp (the names say what they cover)."""

    profile: str  # "standard" (any signer over the SHA-256 manifest) or "guomi" (SM2 over the SM3 manifest)
    signed_manifest: str
    other_manifest: str
    signature: str
    timestamp: str

    @property
    def files(self) -> tuple[str, ...]:
        return (MANIFEST_SM3, MANIFEST_SHA256, self.signature, self.timestamp)

    @property
    def label(self) -> str:
        return "国密 (SM2/SM3)" if self.profile == "guomi" else "standard (SHA-256)"


STANDARD_SEAL = SealLayout("standard", MANIFEST_SHA256, MANIFEST_SM3, SIGNATURE, TIMESTAMP)
GUOMI_SEAL = SealLayout("guomi", MANIFEST_SM3, MANIFEST_SHA256, GM_SIGNATURE, GM_TIMESTAMP)


def seal_layout_of(names: Iterable[str]) -> SealLayout:
    """The layout a package's member names show: 国密 when only the SM3 manifest's signature is there, else standard.

    A package carrying both signatures is read as standard, so the 国密 pair shows up as extra files, never unnoticed.
    """
    present = set(names)
    return GUOMI_SEAL if GM_SIGNATURE in present and SIGNATURE not in present else STANDARD_SEAL
