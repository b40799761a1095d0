"""Write events/<machine>/<state>.json: one real input per state, recorded from a run on the local cloud.

``python -m earchive_devtools.events`` runs a sample case through every state
of both machines (each state called directly, as tests/steps does) and saves
what each state received, for ``sam local invoke -e`` and for readers of
docs/pipeline.md. Bucket names carry the local cloud's random suffix.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def record(out: Path) -> list[Path]:
    """Run one case through both machines and write each state's input under ``out``."""
    from earchive.domain.transfer import Selection
    from earchive.pipeline.registry import STEPS
    from earchive.pipeline.runtime import Runtime

    from .localcloud import LocalCloud, object_created
    from .sample import sample_case, zip_case

    written: list[Path] = []

    def save(machine: str, name: str, document: dict[str, Any]) -> None:
        path = out / machine / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n", "utf-8")
        written.append(path)

    with tempfile.TemporaryDirectory() as tmp, LocalCloud() as cloud:
        rt = Runtime.from_env()
        case = sample_case(Path(tmp) / "cases", seed=2026)
        up = cloud.upload(zip_case(case.folder, Path(tmp) / f"{case.project_id}.zip"))
        state: Any = {"event": object_created(up), "execution": "arn:aws:states:us-east-1:123456789012:execution:archive:sample"}
        for name in ("collect", "organise", "pack", "seal", "check", "register", "store"):
            save("archive", name, state)
            state = STEPS[name].run(state, rt)
        failed = {"Error": "BundleRejected", "Cause": json.dumps({"errorMessage": json.dumps({"stage": "pack", "problems": [
            {"rule": "MATERIAL-DIGEST", "message": "SM3 differs from the declared digest", "case": case.project_id,
             "file": "materials/01.pdf"}]}, ensure_ascii=False)}, ensure_ascii=False)}
        save("archive", "reject", {**{k: v for k, v in state.items() if k in ("upload", "stream", "execution", "case", "record_code",
                                                                             "serial", "year")}, "error": failed})
        batch = rt.aws.transfers.create(Selection(), institution="430102001", institution_name="芙蓉区行政审批服务局", transferor="窗口 李敏")
        ref = {"batch_id": batch["batch_id"], "actor": "窗口 李敏"}
        save("transfer", "submit", ref)
        submitted = STEPS["transfer.submit"].run(ref, rt)
        item = json.loads(rt.aws.s3.get_bytes(submitted["items"]["bucket"], submitted["items"]["key"]) or b"[]")[0]
        save("transfer", "copy", item)
        STEPS["transfer.copy"].run(item, rt)
        save("transfer", "receive_check", item)
        STEPS["transfer.receive_check"].run(item, rt)
        waiting = {"batch_id": batch["batch_id"], "token": "AQB8AAAAKgAAAAMAAAAAAAAAAeTaskTokenSample"}
        save("transfer", "await_decision", waiting)
        STEPS["transfer.await_decision"].run(waiting, rt)
        save("transfer", "decide", {"batch_id": batch["batch_id"], "receiver": "芙蓉区行政审批服务局 王芳", "returns": {}})
    return written


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("events")
    for path in record(out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
