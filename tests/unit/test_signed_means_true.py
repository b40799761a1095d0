"""Signed means true (issue 20): what both parties sign states what was established, in the table itself, and nothing else.

The institution's cells on the printed list are filled before its signature and covered by it (pdftotext and pdfsig, tools we
did not write, read them back); a manual result is never 合格 in any view; every view of a decided batch is rendered from the
two signed documents.
"""

from __future__ import annotations

import io
import json
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from earchive.crypto import pdf_form, pdf_sign
from earchive.crypto.pki import DevPKI
from earchive.domain import reply as replies
from earchive.domain import wording
from earchive.domain.exports import transfer_list_xlsx
from earchive.domain.final import catalogue_items, final_list
from earchive.domain.transfer import OPINION_PENDING
from earchive.domain.transfer_form import answers, placeholders, render

CODES = [f"430102-0102-43000000070{i}-2026-D30-00000{i}" for i in (1, 2, 3)]
TASKS = [("药品零售企业许可", "行政权力事项"), ("药品零售企业许可", "行政权力事项"), ("社会保障卡申领", "公共服务事项")]
MANUAL_GD, MANUAL_YJ = ["GD-4-1", "GD-4-2"], ["YJ-4-1", "YJ-4-2"]


def listing() -> dict:
    return {"batch_id": "202612060001", "institution": "430102001", "institution_name": "长沙市芙蓉区行政审批服务局", "transferor": "李敏",
            "transfer_date": "2026-12-06", "resubmits": None,
            "rows": [{"序号": 1, "批次编号": "202612060001", "办理事项名称": "社会保障卡申领", "事项类型": "公共服务事项", "归档信息包数量": 1,
                      "检测意见": OPINION_PENDING, "备注": ""},
                     {"序号": 2, "批次编号": "202612060001", "办理事项名称": "药品零售企业许可", "事项类型": "行政权力事项", "归档信息包数量": 2,
                      "检测意见": OPINION_PENDING, "备注": ""}],
            "packages": [{"record_code": c, "project_id": f"P{n}", "task_name": t, "task_type": ty, "version": 1, "size": 69590 + n,
                          "digest": {"algorithm": "SM3", "value": f"{n}" * 64}, "sha256": "c" * 64, "retention_period": "D30", "total_number": 5,
                          "archived_at": "2026-12-06T06:18:41+00:00", "archiving_check": {"failed": [], "manual": MANUAL_GD}}
                         for n, (c, (t, ty)) in enumerate(zip(CODES, TASKS), 1)]}


def reply(returned: bool) -> dict:
    out = [{"package_id": c, "outcome": "ACCEPTED", "failed_tests": [], "manual_tests": MANUAL_YJ, "checked_at": "2026-12-06T06:20:00+00:00"}
           for c in CODES]
    if returned:
        out[1] = {**out[1], "outcome": "RETURNED", "reason": "申请表扫描件模糊，请重新扫描后补正"}
    return {"version": "1", "reply_id": "r-1", "batch_id": "202612060001", "institution": "430102001", "receiver": "王芳",
            "decided_at": "2026-12-06T17:30:00+00:00", "packages": out}


@pytest.fixture(scope="module")
def certified(signer, tsa) -> bytes:
    doc = listing()
    form = render(doc)
    return pdf_sign.certify(form.pdf, form.boxes, signer, tsa, note="移交 3 件", text_fields=form.fields, values=placeholders(doc))


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False).stdout


def flat(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("returned", [False, True], ids=["accepted", "partly-returned"])
def test_the_final_signed_list_shows_the_outcome_in_the_table_and_both_signatures_cover_it(tmp_path, certified, signer, tsa, returned):
    decided = final_list(listing(), reply(returned))
    signed = pdf_sign.approve(certified, signer, tsa, note="接收", values=answers(decided))
    path = tmp_path / "final.pdf"
    path.write_bytes(signed)
    text = flat(run("pdftotext", "-raw", str(path), "-"))
    opinions = {row["办理事项名称"]: row["检测意见"] for row in decided["rows"]}
    assert opinions["社会保障卡申领"] == "合格（2 项须人工核查）"
    partly = "合格 1 件（2 项须人工核查）；退回 1 件：申请表扫描件模糊，请重新扫描后补正"
    assert opinions["药品零售企业许可"] == (partly if returned else "合格（4 项须人工核查）")
    for value in (*opinions.values(), "王芳", "2026-12-07", *decided["receiver_checks"].values()):  # 17:30 UTC is the next Beijing day
        assert flat(value) in text, value
    assert flat(OPINION_PENDING) not in text and "待检测" not in text, "no answer left unwritten on the final list"
    report = run("pdfsig", str(path))
    assert report.count("Signature is Valid.") == 2, report
    assert pdf_sign.approval_problems(certified, signed, [signer.certificate]) == []
    # the stamps: Beijing time, at least 7 pt (a word's box is about 1.45 × its size in this font)
    boxes = re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*北京时间[^<]*)<', run("pdftotext", "-bbox", str(path), "-"))
    assert len(boxes) >= 2 and "UTC" not in text
    assert all(float(y2) - float(y1) >= 7 * 1.4 for y1, y2, _ in boxes), boxes


def test_a_value_changed_after_the_institution_signed_breaks_its_signature(tmp_path, certified, signer, tsa):
    decided = final_list(listing(), reply(True))
    signed = pdf_sign.approve(certified, signer, tsa, values=answers(decided))
    # in place: the receiver's name inside the signed revision → the signature over those bytes fails (pdfsig, pyHanko)
    marker = b"/T (Receiver)\n/V (\\376\\377"  # pyHanko writes the value as a UTF-16 literal: 王 is "s\213"
    at = signed.index(marker, len(certified)) + len(marker)
    assert signed[at:at + 1] == b"s"
    tampered = signed[:at] + b"t" + signed[at + 1:]  # 王芳 → 璋芳, same length: only the signature can tell
    path = tmp_path / "tampered.pdf"
    path.write_bytes(tampered)
    report = run("pdfsig", str(path))
    receiver = report.split("Signature #2:")[1].split("Signature #3:")[0]
    assert "ReceiverSig" in receiver and "Signature is Valid." not in receiver, report
    assert pdf_sign.approval_problems(certified, tampered, [signer.certificate]), "the window refuses it too"
    # appended: a later update that rewrites a field is covered by no signature, and differs from the reply
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    pdf_form.fill(w, {"Receiver": "李四"})
    out = io.BytesIO()
    w.write(out)
    later = out.getvalue()
    assert pdf_form.read(later)["Receiver"] == "李四"
    assert any("changed after its last document timestamp" in p for p in pdf_sign.approval_problems(certified, later, [signer.certificate]))
    assert replies.printed_answer_problems(reply(True), listing(), certified, later)


def test_printed_answers_that_say_more_than_the_reply_are_refused(certified, signer, tsa):
    decision = reply(True)
    good = answers(final_list(listing(), decision))
    assert replies.printed_answers(listing(), decision, certified) == good
    wrong = pdf_sign.approve(certified, signer, tsa, values={**good, "Opinion2": "合格"})
    problems = replies.printed_answer_problems(decision, listing(), certified, wrong)
    assert problems and "Opinion2" in problems[0] and "'合格'" in problems[0]
    right = pdf_sign.approve(certified, signer, tsa, values=good)
    assert replies.printed_answer_problems(decision, listing(), certified, right) == []


def test_a_manual_result_is_never_a_pass_in_any_view(tmp_path, certified, signer, tsa):
    decided = final_list(listing(), reply(False))
    security = "未自动检测：病毒扫描须人工核查（3 件）"
    assert decided["receiver_checks"]["安全性检验"] == security
    from earchive.domain.transfer_form import sender_checks

    assert sender_checks(decided)["安全性检验"].startswith(security)
    signed = tmp_path / "final.pdf"
    signed.write_bytes(pdf_sign.approve(certified, signer, tsa, values=answers(decided)))
    text = flat(run("pdftotext", "-raw", str(signed), "-"))
    row = text[text.index("安全性检验"):text.index("载体外观检验")]  # the 登记表's row as the window printed it
    assert flat(security) in row and "合格（" not in row and "通过" not in row, row
    assert text.count(flat(security)) == 2, "the institution's column (its field) says the same of its own check"
    book = load_workbook(transfer_list_xlsx(decided, tmp_path / "list.xlsx"))
    register = {r[0].value: (r[1].value, r[2].value) for r in book["登记表检验"].iter_rows(min_row=2)}
    assert register["安全性检验"][1] == security and register["安全性检验"][0].startswith(security)
    assert [r[5].value for r in book["移交清单"].iter_rows(min_row=4, max_row=5)] == [row["检测意见"] for row in decided["rows"]]
    assert "须人工核查" in json.dumps(decided, ensure_ascii=False)


RESULTS = st.lists(st.fixed_dictionaries({"id": st.sampled_from(["GD-1-1-2", "GD-2-9", "GD-3-4", "GD-4-1", "GD-4-2"]),
                                          "status": st.sampled_from(["pass", "fail", "manual", "not_applicable"])}), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(RESULTS, min_size=1, max_size=5))
def test_the_one_wording_says_合格_only_when_every_test_of_the_property_passed(packages):
    checks = [wording.summarise(p) for p in packages]
    for prop, row in wording.ROW_OF.items():
        text = wording.property_text(prop, checks)
        clean = all(r["status"] in ("pass", "not_applicable") for p in packages for r in p if wording.property_of(r["id"]) == prop
                    or (r["status"] == "fail" and wording.property_of(r["id"]) == prop))
        assert text.startswith("合格（") == clean, (row, text, packages)
        def has(p, status, prop=prop):
            return any(r["status"] == status and wording.property_of(r["id"]) == prop for r in p)

        if any(has(p, "manual") and not has(p, "fail") for p in packages):  # left to a person, and nothing failed
            assert "须人工核查" in text, text
        if any(has(p, "fail") for p in packages):
            assert "不合格" in text, text
    failed = sum(r["status"] == "fail" for p in packages for r in p)
    manual = sum(r["status"] == "manual" for p in packages for r in p)
    verdict = wording.report_verdict(failed, manual)
    assert (verdict == "检测合格") == (failed == 0 and manual == 0)


def test_the_batch_catalogue_lists_the_versions_carried_with_their_outcome():
    items = catalogue_items(final_list(listing(), reply(True)))
    assert [i["status"] for i in items] == ["ACCEPTED", "RETURNED", "ACCEPTED"]
    assert [i["package_sm3"] for i in items] == ["1" * 64, "2" * 64, "3" * 64] and {i["package_version"] for i in items} == {1}
    assert {i["status"] for i in catalogue_items(final_list(listing(), None))} == {"TRANSFERRING"}


def test_the_window_certifies_the_list_with_the_institutions_fields_open(certified):
    """The window's certification of the list with its fields is intact and allows only form filling afterwards."""
    found = pdf_sign.validate(certified, [DevPKI().ca_cert()])
    assert [v["modification_level"] for v in found] == ["NONE"] and found[0]["certification"]
    assert set(pdf_form.read(certified).values()) == {OPINION_PENDING, ""}


def _approve_then(certified: bytes, signer, tsa, *, before: dict | None = None, after: dict | None = None, set_v: dict | None = None) -> bytes:
    """An approval with ``before`` filled in its own revision (``set_v`` rewriting /V only), then ``after`` filled in an unsigned one."""
    import asyncio

    from pyhanko.pdf_utils.generic import pdf_name, pdf_string
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    w = IncrementalPdfFileWriter(io.BytesIO(certified))
    if before:
        pdf_form.fill(w, before)
    for ref in w.root["/AcroForm"]["/Fields"] if set_v else []:
        field = ref.get_object()
        if str(field.get("/T", "")) in set_v:
            field[pdf_name("/V")] = pdf_string(set_v[str(field["/T"])])
            w.update_container(field)
    meta, style = pdf_sign._approval("", True, "x")
    out = io.BytesIO()
    asyncio.run(signers.PdfSigner(meta, signer=pdf_sign.hanko_signer(signer), timestamper=pdf_sign.hanko_timestamper(tsa),
                                  stamp_style=style).async_sign_pdf(w, existing_fields_only=True, output=out))
    signed = out.getvalue()
    if after:
        w = IncrementalPdfFileWriter(io.BytesIO(signed))
        pdf_form.fill(w, after)
        out = io.BytesIO()
        w.write(out)
        signed = out.getvalue()
    return pdf_sign._document_timestamp(signed, tsa)


def test_answers_filled_after_the_approval_are_refused(certified, signer, tsa):
    """The institution's signature must cover its answers: filled in a later revision, only the document timestamp covers them."""
    good = answers(final_list(listing(), reply(True)))
    late = _approve_then(certified, signer, tsa, after=good)
    assert pdf_form.read(late) == good
    assert any("changed after the institution signed it" in p for p in pdf_sign.approval_problems(certified, late, [signer.certificate]))


def test_an_appearance_that_shows_other_words_than_its_value_is_refused(certified, signer, tsa):
    """What a viewer and a printer show (the appearance) must be the value the window checks (/V)."""
    decision = reply(True)
    good = answers(final_list(listing(), decision))
    lying = _approve_then(certified, signer, tsa, before={**good, "Opinion2": "合格"}, set_v={"Opinion2": good["Opinion2"]})
    assert pdf_form.read(lying)["Opinion2"] == good["Opinion2"] and pdf_form.shown(lying)["Opinion2"][0] == "合格"
    assert pdf_sign.approval_problems(certified, lying, [signer.certificate]) == [], "pyHanko's rules allow it: the window must look"
    problems = replies.printed_answer_problems(decision, listing(), certified, lying)
    assert problems and "shows '合格'" in problems[0]
    honest = pdf_sign.approve(certified, signer, tsa, values=good)
    assert all(pdf_form.shows(good[k], text) for k, pair in pdf_form.shown(honest).items() for text in pair if text or good.get(k))


def test_a_decision_recorded_before_manual_tests_were_kept_never_reads_合格():
    """Old replies (no manual_tests) and old receipts (decisions texts only) re-export without claiming what was never recorded."""
    old_reply = reply(False)
    for p in old_reply["packages"]:
        del p["manual_tests"]
    old_receipt = {"batch_id": "202612060001", "receiver": "王芳", "decided_at": "2026-12-06T06:00:00+00:00",
                   "decisions": dict.fromkeys(CODES, "接收")}
    for decision in (old_reply, old_receipt):
        decided = final_list(listing(), decision)
        words = json.dumps([decided["rows"], decided["receiver_checks"]], ensure_ascii=False)
        assert "合格" not in words.replace("不合格", ""), words
        assert "须人工核查项未记录" in words
    assert final_list(listing(), {**old_reply, "decided_at": "2026-13-40"})["received_date"] == ""
    assert any("decided_at" in p for p in replies._shape_problems({**old_reply, "decided_at": "2026-13-40"}))
