"""``earchive demo``: the main job on the local default.

Until the serverless pipeline lands it is the offline round trip: generate
realistic cases (one of them defective), pack and seal each, run the
archiving check on each package, and print a summary table. Cases, packages,
HTML reports and a JSON summary are left in the output folder.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .check import CheckOptions, check_package
from .errors import EarchiveError
from .package import pack
from .report import write_html
from .sample import sample_case
from .seal import make_signer, make_tsa
from .virus import make_scanner


def run_demo(out: Path, cases: int = 6) -> int:
    out.mkdir(parents=True, exist_ok=True)
    signer, tsa = make_signer(), make_tsa()
    options = CheckOptions(scanner=make_scanner())
    rows, summary = [], []
    plan = [(seed, None) for seed in range(1, max(cases, 2))] + [(cases + 100, "digest"), (cases + 101, "eicar")]
    print(f"earchive demo: {len(plan)} cases → {out.resolve()}", file=sys.stderr)
    for i, (seed, defect) in enumerate(plan, 1):
        case = sample_case(out / "cases", seed=seed, files=5 + seed % 3, defect=defect)
        label = case.case["task_name"]
        print(f"[{i}/{len(plan)}] {case.project_id} {label}{' (defect: ' + defect + ')' if defect else ''}", file=sys.stderr)
        started = time.monotonic()
        try:
            result = pack(case.folder, out / "packages", signer=signer, tsa=tsa, overwrite=True)
        except EarchiveError as exc:
            reasons = "; ".join(f"[{p.rule}] {p.file or ''}" for p in exc.problems)
            rows.append((case.project_id, "拒收 rejected at pack", reasons, time.monotonic() - started))
            summary.append({"project_id": case.project_id, "status": "REJECTED", "stage": "pack",
                            "problems": [p.as_dict() for p in exc.problems]})
            continue
        pack_s = time.monotonic() - started
        report = check_package(result.path, options)
        html = write_html(report)
        failed = [f"{r.id} {r.name}: {r.detail}" for r in report.failures]
        status = "归档 archived" if report.passed else "拒收 rejected at check"
        rows.append((case.project_id, status, result.path.name if report.passed else "; ".join(failed), time.monotonic() - started))
        summary.append({"project_id": case.project_id, "status": "ARCHIVED" if report.passed else "REJECTED",
                        "package": str(result.path), "report": str(html), "pack_seconds": round(pack_s, 3),
                        "failed": [r.as_dict() for r in report.failures]})
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), "utf-8")
    width = max(len(r[0]) for r in rows)
    print(f"\n{'办件编号':<{width - 2}}  {'结果':<24} {'秒':>6}  电子文件号 / 原因")
    for project_id, status, detail, seconds in rows:
        print(f"{project_id:<{width}}  {status:<24} {seconds:6.2f}  {detail[:140]}")
    archived = sum(1 for s in summary if s["status"] == "ARCHIVED")
    print(f"\n{archived} archived, {len(summary) - archived} rejected with reasons; summary: {out / 'summary.json'}")
    print(out.resolve())
    return 0
