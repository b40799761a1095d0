"""The institution's decision reaches the waiting transfer machine through SendTaskSuccess, bounded to 256 KiB (issue 22, F7):
it names the verified reply and its digests; the reasons stay in the reply, which Decide reads back by those digests."""

from __future__ import annotations

import json
import types

from earchive.pipeline.reply.verify import _taken


def test_a_reply_returning_hundreds_of_packages_with_long_reasons_resumes_the_batch_with_a_small_answer():
    sent = []
    aws = types.SimpleNamespace(executions=types.SimpleNamespace(resume_if_waiting=lambda token, out: sent.append(out) or None),
                                events=types.SimpleNamespace(append=lambda *a, **k: None))
    reason = "申请表扫描件模糊，" * 144  # 1,296 字: the longest reason allowed is 1,300
    reply = {"reply_id": "r-1", "receiver": "王芳",
             "packages": [{"package_id": f"{n:040d}", "outcome": "RETURNED", "reason": reason} for n in range(500)]}
    assert len(json.dumps(reply, ensure_ascii=False).encode()) > 262_144 * 7, "the reply itself is far over the limit"
    verdict = _taken(aws, {"batch_id": "202612060001", "task_token": "t"}, "institutions/x/replies/202612060001/r-1.json", reply,
                     {"json": "a" * 64, "p7s": "b" * 64, "pdf": "c" * 64}, True, "test", "")
    (answer,) = sent
    assert len(json.dumps(answer, ensure_ascii=False).encode()) < 2048 and "returns" not in answer, answer
    assert answer["reply"]["sha256"]["json"] == "a" * 64 and verdict["returned"] == 500
