"""docs/pipeline.md: every state's input and output, generated from the ``run`` annotations (a test keeps it in sync)."""

from __future__ import annotations

import typing
from typing import Any

from .registry import STEPS


def _type_name(t: Any) -> str:
    if isinstance(t, type) and typing.is_typeddict(t):
        return f"[{t.__name__}](#{t.__name__.lower()})"
    if isinstance(t, type):
        return t.__name__
    text = str(t).replace("typing.", "").replace("NoneType", "None")
    for prefix in ("earchive.pipeline.state.",):
        text = text.replace(prefix, "")
    return text


def _fields(td: type) -> list[str]:
    hints = typing.get_type_hints(td)
    required = td.__required_keys__  # type: ignore[attr-defined]
    return [f"| `{k}` | {_type_name(v)} | {'yes' if k in required else 'no'} |" for k, v in hints.items()]


def pipeline_markdown() -> str:
    """The states of both machines with their module, function folder, input, output and idempotency key; then each type."""
    lines = ["| state | module | function | input | output | idempotency key |", "|---|---|---|---|---|---|"]
    seen: dict[str, type] = {}

    def collect(t: Any) -> None:
        if isinstance(t, type) and typing.is_typeddict(t) and t.__name__ not in seen:
            seen[t.__name__] = t
            for v in typing.get_type_hints(t).values():
                for inner in (v, *typing.get_args(v)):
                    collect(inner)

    for name, step in STEPS.items():
        hints = typing.get_type_hints(step.run)
        params = [v for k, v in hints.items() if k not in ("return", "rt")]
        inp, out = params[0], hints["return"]
        collect(inp)
        collect(out)
        machine, _, short = name.rpartition(".")
        module = f"earchive.pipeline.{machine or 'archive'}.{short}"
        state = "".join(p.capitalize() for p in short.split("_"))
        lines.append(f"| {state} | `{module}` | `functions/{name.replace('.', '_')}/` | {_type_name(inp)} | {_type_name(out)} "
                     f"| `{step.idempotency_key}` |")
    lines.append("")
    for type_name in sorted(seen):
        td = seen[type_name]
        doc = (td.__doc__ or "").strip().split("\n")[0]
        lines += [f"### {type_name}", ""]
        if doc and not doc.startswith(type_name + "("):
            lines += [doc, ""]
        own = _fields(td)
        lines += ["| key | type | required |", "|---|---|---|", *own, ""]
    return "\n".join(lines)

