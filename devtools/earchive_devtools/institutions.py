"""Register a receiving institution with its competence (受理范围) for tests, the demo and benches.

Since issue 20 a batch goes only to a registered, active institution with a scope recorded; this is the one line
every fixture needs before `TransferService.create`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from earchive.domain.institution import Scope


def register(svc: Any, code: str = "430102001", name: str = "芙蓉区行政审批服务局", *, regions: Iterable[str] = ("430000",),
             certificates: Iterable[bytes] = (), actor: str = "管理员", **scope: Any) -> dict[str, Any]:
    """``svc``'s registry gets ``code`` (default: the whole province, 430000, so every sample region is in scope)."""
    return svc.aws.institutions.add(code, name, certificates=list(certificates), principals=[], actor=actor,
                                    scope=Scope.parse(regions=list(regions), **scope))
