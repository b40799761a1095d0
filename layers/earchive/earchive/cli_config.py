"""`earchive config list|show|set|retire|modes|import`: the 归档配置 per 事项编码 (ADR 0017), kept by administrators.

Every change is a new version with who and why in the event log (stream ``archiving-config``);
an import of the province's 事项目录 (XLSX or CSV) is one change for all the 事项 it changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .domain.archiving_config import MODE_ZH, parse_catalogue, read_rows, required_text
from .errors import ConflictError, TransferError, UsageError
from .zh import RETENTION, beijing, label

STATUS_ZH = {"ACTIVE": "有效", "RETIRED": "已停用"}


def registry_of(args: argparse.Namespace) -> Any:
    """The deployment's 归档配置 registry (the running local cloud, or ``--stack``)."""
    from .client import TransferService

    registry = TransferService.for_stack(args.stack).aws.archiving_config
    if registry is None:
        raise UsageError("this deployment has no ArchivingConfigTable (a stack from before ADR 0017): deploy the current template.yaml")
    return registry


def describe(item: dict[str, Any]) -> str:
    """One 事项's configuration in one line, Chinese first."""
    mode = f"；期限不符时{MODE_ZH[item['retention_mismatch']]}" if item.get("retention_mismatch") else ""
    where = f"；接收单位 {item['institution']} {item.get('institution_name') or ''}".rstrip() if item.get("institution") else ""
    return (f"{item['task_code']}  {item['task_name']}  {item['task_type']}  保管期限 {label(RETENTION, item['retention_period'])} "
            f"{item['retention_period']}{where}{mode}  必备材料：{required_text(item.get('required') or []) or '无'}"
            f"  （第 {item['version']} 版，{STATUS_ZH.get(item.get('status', 'ACTIVE'), item.get('status'))}）")


def summary(registry: Any) -> str:
    """What `earchive status` says about the 归档配置: configured or not, with the modes."""
    deployment = registry.deployment() if registry is not None else None
    if deployment is None:
        return "未配置归档配置：保管期限按平台提交值归档，不核对必备材料（`earchive config import 事项目录.xlsx` 导入）"
    items = registry.all()
    active = sum(1 for i in items if i.get("status") != "RETIRED")
    return (f"归档配置：{active} 个事项（方式第 {deployment['version']} 版：保管期限不符时{MODE_ZH[deployment['retention_mismatch']]}，"
            f"未配置的事项{MODE_ZH[deployment['unknown_task']]}）")


def cmd_config(args: argparse.Namespace) -> int:
    """List, show, change and import the 归档配置; every change names who and why."""
    try:
        return _config(args, registry_of(args))
    except ConflictError as exc:  # another administrator saved the same 事项 at the same moment
        raise TransferError(str(exc)) from None


def _config(args: argparse.Namespace, registry: Any) -> int:
    command = args.config_command
    if command == "list":
        items = registry.all()
        if args.json:
            print(json.dumps(items, ensure_ascii=False, indent=2, default=str))
            return 0
        print(summary(registry))
        for item in items:
            print(describe(item))
    elif command == "show":
        versions = registry.versions(args.code)
        if not versions:
            raise UsageError(f"事项 {args.code} 不在归档配置中（`earchive config list`）")
        if args.json:
            print(json.dumps(versions, ensure_ascii=False, indent=2, default=str))
            return 0
        for v in versions:
            print(describe(v))
            print(f"    {beijing(v.get('changed_at'))} {v.get('changed_by')}：{v.get('reason')}（{v.get('source')}）")
    elif command in ("set", "retire"):
        current = registry.current(args.code) or {}
        if command == "retire" and not current:
            raise UsageError(f"事项 {args.code} 不在归档配置中")
        values = {**current, "task_code": args.code, "status": "RETIRED" if command == "retire" else "ACTIVE"}
        if command == "set":
            given = {"task_name": args.name, "task_type": args.type, "retention_period": args.retention, "institution": args.institution,
                     "institution_name": args.institution_name, "retention_mismatch": args.retention_mismatch}
            values.update({k: v for k, v in given.items() if v is not None})
            if args.required is not None:
                values["required"] = "；".join(args.required)
        item = registry.save(values, actor=args.actor, reason=args.reason)
        print(describe(item))
    elif command == "modes":
        item = registry.set_modes({"retention_mismatch": args.retention_mismatch, "unknown_task": args.unknown_task},
                                  actor=args.actor, reason=args.reason)
        print(f"方式第 {item['version']} 版：保管期限不符时{MODE_ZH[item['retention_mismatch']]}，未配置的事项{MODE_ZH[item['unknown_task']]}")
    elif command == "import":
        path = Path(args.file)
        content = path.read_bytes()
        configs, errors = parse_catalogue(read_rows(path.name, content))
        for line in errors:
            print(line, file=sys.stderr)
        if errors:
            print(f"{path.name}：{len(errors)} 处错误，未导入任何事项 / nothing imported", file=sys.stderr)
            return 2
        if args.dry_run:
            print(f"{path.name}：{len(configs)} 个事项可导入（--dry-run：未写入）")
            return 0
        result = registry.import_catalogue(configs, actor=args.actor, reason=args.reason, source=path.name, content=content)
        print(f"{path.name}：{result['rows']} 个事项，{len(result['changed'])} 个新版本，{result['unchanged']} 个未变")
    return 0


def add_config_parser(sub: Any) -> None:
    s = sub.add_parser("config", help="归档配置 per 事项编码: list, show, set, retire, modes, import (XLSX/CSV 事项目录)")
    csub = s.add_subparsers(dest="config_command", required=True)
    ls = csub.add_parser("list", help="every configured 事项 (newest version) and the deployment's modes")
    ls.add_argument("--json", action="store_true")
    sh = csub.add_parser("show", help="every version of one 事项, who changed it and why")
    sh.add_argument("code", help="事项编码")
    sh.add_argument("--json", action="store_true")
    st = csub.add_parser("set", help="add a 事项 or change it (a new version; unchanged fields kept)")
    st.add_argument("code", help="事项编码")
    st.add_argument("--name", help="事项名称")
    st.add_argument("--type", help="事项类型: 行政权力事项 or 公共服务事项")
    st.add_argument("--retention", help="保管期限: Y, D30 or D10 (永久, 30年, 10年)")
    st.add_argument("--required", action="append", metavar="类别:题名或代码",
                    help="a required material, e.g. 申报:申请表 or 结果:C1 (repeat; replaces the list; --required '' for none)")
    st.add_argument("--institution", help="接收单位代码")
    st.add_argument("--institution-name", help="接收单位名称")
    st.add_argument("--retention-mismatch", help="this 事项's own mode: refuse or apply (empty: the deployment's)")
    rt = csub.add_parser("retire", help="停用 a 事项: its cases are then unknown (a new version; history kept)")
    rt.add_argument("code")
    md = csub.add_parser("modes", help="the deployment's modes (a new version)")
    md.add_argument("--retention-mismatch", choices=("refuse", "apply"), help="保管期限不符时: refuse 拒收, apply 按目录期限归档并注明")
    md.add_argument("--unknown-task", choices=("refuse", "accept"), help="未配置的事项: refuse 拒收, accept 接收并注明")
    im = csub.add_parser("import", help="import the province's 事项目录 (XLSX or CSV, Chinese headers): one change for all")
    im.add_argument("file")
    im.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    for name, t in csub.choices.items():
        t.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
        if name in ("set", "retire", "modes", "import"):
            t.add_argument("--actor", required=name != "import", help="who makes the change (a person's name; logged)")
            t.add_argument("--reason", required=name != "import", help="变更原因 (logged)")
    s.set_defaults(func=cmd_config)
