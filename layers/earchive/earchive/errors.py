"""Every error earchive raises on purpose, in one place, under one base class.

Every rejection in earchive carries a stable rule code (like Vitam's ingest
checks) so that a clerk, a log search and a test can all point at the same
thing. The message is written for people; the code is written for machines.

The state machines catch errors by class name (``ErrorEquals`` in
``statemachine/*.asl.json`` matches the Lambda's ``errorType``, which is
``type(exc).__name__``), so the names below are a contract:
tests/contract/test_names.py checks every ``ErrorEquals`` against this module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One broken rule: which rule, which case, which file, and why."""

    rule: str
    message: str
    case: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = []
        if self.case:
            where.append(f"case {self.case}")
        if self.file:
            where.append(f"file {self.file!r}")
        prefix = f"[{self.rule}] " + (", ".join(where) + ": " if where else "")
        return prefix + self.message

    def as_dict(self) -> dict[str, str | None]:
        return {"rule": self.rule, "case": self.case, "file": self.file, "message": self.message}


class BaseError(Exception):
    """The base of every error earchive raises on purpose; anything else is a bug (and is reported as one)."""


class EarchiveError(BaseError):
    """A rejection of input: one or more broken rules, never a bare traceback."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def rule(self) -> str:
        return self.problems[0].rule

    def with_case(self, case: str | None) -> EarchiveError:
        for p in self.problems:
            p.case = p.case or case
        return EarchiveError(self.problems)


class BundleRejected(BaseError):
    """The upload breaks a rule; the message is JSON the reject state turns into a report (ASL: Catch → Reject)."""


class DuplicateDelivery(BaseError):
    """This upload version is being, or has been, handled by another execution (ASL: Catch → AlreadyHandled)."""


class TransientError(BaseError):
    """Worth retrying (throttling, a network blip); the state machines retry it with back-off (ASL: Retry)."""


class ConfigurationError(BaseError):
    """The deployment's settings cannot do what was asked: an operator's fix, never the submitter's rejection."""


class ConflictError(BaseError):
    """A conditional write lost: the item is not in the state the caller expected."""


class ColdObject(ConflictError):
    """An archived object in S3 Glacier Deep Archive (ColdStorageAfterDays): it must be restored before it is read or copied."""


class TransferError(BaseError):
    """A transfer operation that breaks a rule (named in the message)."""


class UsageError(BaseError):
    """The command line names something that does not exist or is malformed (the CLI exits 2)."""


class UnknownBatch(TransferError, UsageError):
    """No transfer batch has this id."""


class Denied(BaseError):
    """The caller's role or scope does not allow this (HTTP 403), or nobody is signed in (401)."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


class ReplyTooEarly(TransferError):
    """An institution's reply came before its batch waits for a decision: the reply machine tries again a little later."""


class OverBudget(BaseError):
    """A reader of the check reached its size, page or time budget (the file's result is "manual", never a dead Lambda)."""


class DuplicateKey(BaseError):
    """A JSON object repeats a key (collect turns it into CASE-JSON-SYNTAX at once)."""


def reject(rule: str, message: str, *, case: str | None = None, file: str | None = None) -> EarchiveError:
    """Build the error for one broken rule (raise the result)."""
    return EarchiveError(Problem(rule=rule, message=message, case=case, file=file))


# Stable rule codes for bundle intake (收集) and packing (形成信息包).
RULES: dict[str, str] = {
    "BUNDLE-NOT-FOUND": "办件包不存在或不可读 / the bundle does not exist or cannot be read",
    "BUNDLE-NOT-ZIP": "办件包不是合法的 ZIP 或文件夹 / the bundle is not a valid zip or folder",
    "BUNDLE-PATH": "成员路径不安全（绝对路径、../ 或非法字符） / unsafe member path",
    "BUNDLE-DUPLICATE": "成员名重复（含 Unicode NFC 与大小写折叠后） / duplicate member names",
    "BUNDLE-ENCRYPTED": "成员已加密 / an encrypted member",
    "BUNDLE-BOMB": "压缩炸弹：解压后大小或压缩比超限 / zip bomb: size or ratio over limits",
    "BUNDLE-LIMIT": "成员数量或大小超限 / too many or too large members",
    "BUNDLE-LAYOUT": "ZIP 结构异常：首个条目前、条目之间或目录前有多余字节，或目录条目带数据 / bytes outside the zip's entries",
    "BUNDLE-NAME-ENCODING": "成员名既非 UTF-8 也非 GB18030 / a member name in an unknown encoding",
    "CASE-JSON-MISSING": "缺少 case.json / case.json is missing",
    "CASE-JSON-SYNTAX": "case.json 不是合法的 UTF-8 JSON / case.json is not valid UTF-8 JSON",
    "CASE-JSON-SCHEMA": "case.json 不符合 JSON Schema（必填项、类型、值域） / case.json breaks its schema",
    "MATERIAL-MISSING": "材料在 case.json 中声明但不存在 / a declared material is missing",
    "MATERIAL-UNDECLARED": "存在 case.json 未声明的文件 / a file is not declared in case.json",
    "MATERIAL-EMPTY": "材料为零字节 / a material is zero bytes",
    "MATERIAL-SIZE": "材料大小与声明不符（截断或损坏） / size differs from the declared size",
    "MATERIAL-DIGEST": "材料数字摘要与声明不符 / digest differs from the declared digest",
    "MATERIAL-CORRUPT": "材料在办件包中已损坏（CRC 校验失败或无法解压） / the member fails its CRC or does not decompress",
    "MATERIAL-CHANGED": "打包时材料文件被改动（两次读取不一致） / the material changed while it was packed",
    "MATERIAL-NAME": "材料文件名不合规 / the material file name breaks the naming rules",
    "MATERIAL-SEQUENCE": "材料顺序号不连续或重复 / material sequence numbers have gaps or repeats",
    "CASE-OUT-OF-SCOPE": "办件不属于本档案系统的行政区划或全宗 / the case belongs to another region or fonds",
    "PROCESS-INCOMPLETE": "办理过程记录不完整 / the process record is incomplete",
    "SEAL-CONFIG": "固化配置错误（签名或时间戳服务） / seal configuration error",
    "SEAL-TSA": "时间戳服务失败 / the timestamp authority failed",
    "CORRECTION-UNCHANGED": "退回后的更正与退回的版本完全相同 / the correction of a returned case changes nothing",
    "CASE-ALREADY-ARCHIVED": "办件已归档，仅在接收单位退回后接受更正 / the case is archived; a correction is accepted only after a return",
    "CASE-IN-PROGRESS": "同一办件的另一次上传正在归档，请待其完成后再上传 / another upload of this case is being archived: upload again when it has finished",
    "ARCHIVE-SERIAL-TAKEN": "档案序号已被另一办件占用 / the archive serial (电子文件号) belongs to another case",
    "ARCHIVE-SERIAL-CHANGED": "办件已有档案序号，不得另编 / the case has an archive serial already; another would give it a second 电子文件号",
    "REGISTER-MISMATCH": "登记信息与信息包不符 / the catalogue and the package disagree",
    "OUTPUT-EXISTS": "输出位置已有同名信息包 / a package of the same name exists already",
}
