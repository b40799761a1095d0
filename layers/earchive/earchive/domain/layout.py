"""The archive information package's layout: the names every packer and checker agrees on.

Kept apart from the code that builds packages so that the check (which must
judge a package it did not make) reads the format from here, not from the packer.
See ADR 0001 for the naming rule.
"""

from __future__ import annotations

import re

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
