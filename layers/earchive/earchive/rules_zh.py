"""Every rule a rejection can carry and every check test, explained in Chinese for the clerk who reads the report.

Codes stay in English (stable, for machines and log searches); reports show the Chinese first and the
code and English detail in small print. An unknown code never fails here: it gets a fallback text that
names it. tests/contract/test_every_code_speaks_chinese.py fails CI when a new rule or test has no entry.

Each rule has a *kind* that decides what the uploader is told: ``fix`` (correct and upload again),
``archived`` / ``wait`` (a duplicate upload: nothing to fix), ``contact`` (ask the archive's staff) and
``system`` (not the uploader's fault; retried).
"""

from __future__ import annotations

import re
from typing import Any

from .zh import beijing

FIX, ARCHIVED, WAIT, CONTACT, SYSTEM = "fix", "archived", "wait", "contact", "system"

_AGAIN = "然后重新上传整个办件包（原上传文件保留未动，无需删除）。"
_SYSTEM_ADVICE = "这不是上传内容的问题：平台无需修改材料，也无需重新上传；原上传文件保留未动，运维人员已收到告警，修复后重新执行即可（可重试）。"
_CONTACT_ADVICE = "请联系档案管理员处理，并告知本通知中的规则编号；在其答复前无需修改材料。"

# code -> (what is wrong, what the uploader should do, kind)
RULES: dict[str, tuple[str, str, str]] = {
    "BUNDLE-NOT-FOUND": ("找不到办件包，或办件包无法读取。", "请确认上传已完整结束，然后重新上传。", FIX),
    "CASE-JSON-MISSING": ("办件包最外层没有 case.json（办件说明文件）。", "请把 case.json 放在压缩包最外层，" + _AGAIN, FIX),
    "CASE-JSON-SYNTAX": ("case.json 不是合法的 UTF-8 JSON（格式损坏、过大、嵌套过深或同一对象中有重复的键）。",
                         "请用业务系统重新导出 case.json（UTF-8 编码），" + _AGAIN, FIX),
    "CASE-JSON-SCHEMA": ("case.json 的内容不符合规定格式：缺少必填项，或某项的类型、取值不对。",
                         "请按英文说明中指出的字段逐项更正 case.json，" + _AGAIN, FIX),
    "CASE-OUT-OF-SCOPE": ("该办件的行政区划或全宗不属于本档案系统，本系统不接收。", "请确认上传目标是否正确，改传到该办件所属地区或全宗的档案系统。", FIX),
    "MATERIAL-MISSING": ("case.json 声明的材料在办件包中找不到，或办结的办件缺少申报材料、结果文件。",
                         "请补齐缺少的材料文件（或更正 case.json 中的文件名），" + _AGAIN, FIX),
    "MATERIAL-UNDECLARED": ("办件包中有 case.json 未声明的文件。", "请删除多余文件，或在 case.json 中补充声明该文件，" + _AGAIN, FIX),
    "MATERIAL-EMPTY": ("材料文件为零字节（空文件）。", "请换成完整的材料文件，" + _AGAIN, FIX),
    "MATERIAL-SIZE": ("材料文件的实际大小与 case.json 声明的大小不符（文件可能被截断或损坏）。",
                      "请重新导出该材料文件，并在 case.json 中填写其实际大小，" + _AGAIN, FIX),
    "MATERIAL-DIGEST": ("材料文件的数字摘要与 case.json 声明的不符（文件内容被改动或损坏）。",
                        "请重新导出该材料文件，并按其实际内容重新计算摘要填入 case.json，" + _AGAIN, FIX),
    "MATERIAL-CORRUPT": ("材料文件在办件包中已损坏（CRC 校验失败或无法解压）。", "请重新打包办件（压缩包可能在传输中损坏），" + _AGAIN, FIX),
    "MATERIAL-CHANGED": ("打包时两次读取同一材料文件，内容不一致（打包期间文件被改动）。", "请确认材料文件不再被改动后重新打包，" + _AGAIN, FIX),
    "MATERIAL-NAME": ("材料文件名不合规（不是安全的相对路径），或同一文件被声明了两次。", "请更正 case.json 中的文件名，" + _AGAIN, FIX),
    "MATERIAL-SEQUENCE": ("件内顺序号没有从 1 起连续编排（有缺号或重号）。", "请在 case.json 中把材料顺序号改为 1、2、3……连续编号，" + _AGAIN, FIX),
    "PROCESS-INCOMPLETE": ("办理过程记录不完整：缺少受理或办结环节，或各环节时间先后不对。",
                           "请在 case.json 中补全办理过程（受理……办结）并核对各环节时间，" + _AGAIN, FIX),
    "ARCHIVE-SERIAL-TAKEN": ("指定的档案序号（电子文件号）已属于另一个办件。", "请在 case.json 中删去 archive_serial，由档案系统自动编号，" + _AGAIN, FIX),
    "ARCHIVE-SERIAL-CHANGED": ("该办件已有档案序号，不得另编一个（否则同一办件会有两个电子文件号）。",
                               "请在 case.json 中删去 archive_serial 或填写原有序号，" + _AGAIN, FIX),
    "CASE-ALREADY-ARCHIVED": ("该办件已经归档，本次上传是重复上传，未作处理。",
                              "无需任何操作。仅当档案接收单位退回该办件（状态为“已退回待更正”）后，才可上传更正后的版本。", ARCHIVED),
    "CORRECTION-UNCHANGED": ("这是被退回办件的再次上传，但 case.json 与材料和退回的版本完全相同，没有任何更正。",
                             "请按接收单位的退回原因更正材料或信息（见退回原因），再上传更正后的办件。", FIX),
    "CASE-IN-PROGRESS": ("同一办件的另一次上传正在归档，本次上传暂未处理。",
                         "请等待正在进行的归档完成（可查询办件状态）；完成后如仍需更正，再上传本办件。本次上传已原样保留。", WAIT),
    "DuplicateDelivery": ("这次上传已由另一次处理接手（正在处理或已处理完毕），不会重复归档。", "无需任何操作，结果以另一次处理为准。", ARCHIVED),
    "REGISTER-MISMATCH": ("归档登记信息与信息包内容不一致（文件数、字节数或保管期限）。",
                          "如保管期限填写有误，请更正 case.json 后重新上传；否则多为系统内部问题，" + _CONTACT_ADVICE, CONTACT),
    # 归档配置 (ADR 0017): the case against its 事项's configuration, at Organise (and the retention again at Register)
    "CONFIG-TASK-UNKNOWN": ("该办件的事项编码不在本系统的归档配置（事项目录）中，或该事项已停用，按本系统设置不予接收。",
                            "如事项编码填写有误，请更正 case.json，" + _AGAIN + "如确为应归档的事项，" + _CONTACT_ADVICE, FIX),
    "CONFIG-TASK-UNKNOWN-ACCEPTED": ("该办件的事项不在归档配置中，已按平台提交的信息接收归档，并在归档登记中注明。",
                                     "无需操作；档案管理员宜在归档配置中补充该事项。", ARCHIVED),
    "CONFIG-TASK-TYPE": ("办件的事项类型（行政权力事项/公共服务事项）与归档配置中该事项的类型不一致。",
                         "请按归档配置更正 case.json 中的事项类型（task_type），" + _AGAIN, FIX),
    "CONFIG-MATERIAL-REQUIRED": ("缺少归档配置规定该事项必须归档的材料（按申报文件/过程文件/结果文件及题名或文件类型代码核对）。",
                                 "请补齐所列必备材料（并在 case.json 中按规定的类别和题名或文件类型代码声明），" + _AGAIN, FIX),
    "CONFIG-RETENTION": ("办件的保管期限与归档配置中该事项规定的保管期限不一致。",
                         "请按归档配置更正 case.json 中的保管期限（retention_period），" + _AGAIN, FIX),
    "CONFIG-RETENTION-APPLIED": ("平台提交的保管期限与归档配置不一致，已按归档配置规定的保管期限归档，并在目录和归档回执中注明。",
                                 "无需操作；平台宜按归档配置更正该事项的保管期限。", ARCHIVED),
    "OUTPUT-EXISTS": ("输出目录中已有同名的归档信息包。", "如确需重新生成，请换一个输出目录，或加 --force 覆盖。", FIX),
    "SEAL-CONFIG": ("固化配置有误（签名证书、密钥或时间戳服务配置不对）。", _SYSTEM_ADVICE, SYSTEM),
    "SEAL-TSA": ("时间戳服务无应答或拒绝签发时间戳。", _SYSTEM_ADVICE, SYSTEM),
    # the error classes of earchive.errors, which a system failure carries as its rule
    "BaseError": ("系统内部错误。", _SYSTEM_ADVICE, SYSTEM),
    "EarchiveError": ("系统配置或内部处理不符合规则（详见英文说明）。", _SYSTEM_ADVICE, SYSTEM),
    "BundleRejected": ("上传内容不符合归档规则（详见英文说明）。", "请按英文说明更正，" + _AGAIN, FIX),
    "ConfigurationError": ("档案系统的配置无法完成本次处理（例如：为超出 /tmp 的大办件配置了只能扫描文件的 ClamAV）。办件本身没有问题。",
                           "请系统管理员更正配置（大办件使用内置的流式病毒扫描），然后重新运行该办件；提交单位无需处理。", SYSTEM),
    "TransientError": ("外部服务暂时不可用（时间戳服务、网络或限流），多次自动重试后仍未成功。", _SYSTEM_ADVICE, SYSTEM),
    "ConflictError": ("并发处理冲突：归档目录记录同时被另一次处理改动。", _SYSTEM_ADVICE, SYSTEM),
    "ColdObject": ("档案信息包已转入深度归档存储（Glacier Deep Archive），读取或移交前须先恢复。",
                   "请运维人员用 aws s3api restore-object 恢复该信息包（约 12–48 小时），恢复后重新执行即可；档案本身完好，锁定未变。", SYSTEM),
    "TransferError": ("移交操作不符合规则（详见英文说明）。", _CONTACT_ADVICE, CONTACT),
    "UsageError": ("命令行参数有误：指定的对象不存在或格式不对（详见英文说明）。", "请核对命令行中的编号、文件名或参数后重新执行。", FIX),
    "UnknownBatch": ("没有这个编号的移交批次。", "请用 earchive transfer list 查看已有批次的编号后重新执行。", FIX),
    "Denied": ("您的角色或范围不允许此操作（或尚未登录）。", "请以有相应角色、属于本窗口或本接收单位的账号登录；如需权限，请联系系统管理员。", CONTACT),
    "ReplyTooEarly": ("接收单位的回执先于本批次进入“待接收方决定”状态到达。", "无需操作：回执核验约每分钟重试一次；约 9 分钟后仍未就绪的回执不作拒收，"
                      "待批次进入待决定状态后由窗口执行 earchive transfer take-reply 核验。", CONTACT),
    "OverBudget": ("文件超出检测的大小、页数或时间预算，需人工核查。", _CONTACT_ADVICE, CONTACT),
    "DuplicateKey": ("case.json 的同一对象中出现了重复的键。", "请删除重复的键，" + _AGAIN, FIX),
    # what AWS Step Functions and Lambda report when a function dies
    "States.Timeout": ("处理超时（处理函数超过了运行时限）。", _SYSTEM_ADVICE, SYSTEM),
    "States.TaskFailed": ("处理函数执行失败。", _SYSTEM_ADVICE, SYSTEM),
    "Lambda.Unknown": ("处理函数异常退出（如内存不足或超时）。", _SYSTEM_ADVICE, SYSTEM),
    "Sandbox.Timedout": ("处理超时（处理函数超过了运行时限）。", _SYSTEM_ADVICE, SYSTEM),
}

# The rules a SafeZip reader raises, prefixed by what it reads (BUNDLE- the upload, PACKAGE- the archive's own package, OFD- one file).
ZIP_SUBJECTS = {"BUNDLE": "办件包（压缩包）", "PACKAGE": "归档信息包", "OFD": "OFD 文件"}
_ZIP_RULES = {
    "NOT-ZIP": "{s}不是合法的 ZIP 文件，或使用了非公开的压缩方式。",
    "PATH": "{s}中有不安全的成员路径（绝对路径、“..”、符号链接或非法字符）。",
    "DUPLICATE": "{s}中有重名的文件（忽略大小写和 Unicode 写法差异后同名）。",
    "ENCRYPTED": "{s}中有加密的文件。",
    "BOMB": "{s}解压后的大小或压缩比超出限度（疑似压缩炸弹）。",
    "LIMIT": "{s}的文件个数或单个文件大小超出限度。",
    "LAYOUT": "{s}的 ZIP 结构异常（条目之外有多余字节，或目录与文件头不一致）。",
    "NAME-ENCODING": "{s}中有文件名既不是 UTF-8 也不是 GB18030 编码。",
}
_ZIP_ADVICE = {
    "BUNDLE": "请用常用压缩软件（ZIP，不加密、不分卷）重新打包，" + _AGAIN,
    "PACKAGE": "归档信息包由档案系统生成，这不是上传内容的问题；" + _CONTACT_ADVICE,
    "OFD": "请用合规的版式软件重新导出该 OFD 文件，" + _AGAIN,
}
for _prefix, _subject in ZIP_SUBJECTS.items():
    for _suffix, _text in _ZIP_RULES.items():
        RULES.setdefault(f"{_prefix}-{_suffix}", (_text.format(s=_subject), _ZIP_ADVICE[_prefix], CONTACT if _prefix == "PACKAGE" else FIX))
RULES["BUNDLE-LIMIT"] = ("办件包的文件个数或大小超出限度（或超出处理函数的工作空间）。",
                         "请把办件拆分为较小的办件包后重新上传；如该办件不能拆分，" + _CONTACT_ADVICE, FIX)

# check test code (without GD-/YJ-) -> what the test requires, in Chinese (the Chinese names are in check.catalogue)
TESTS: dict[str, str] = {
    "1-1-1": "信息包中每个文件的 SM3 和 SHA-256 摘要都与摘要清单一致",
    "1-1-2": "封装签名所覆盖的摘要清单（通用算法为 manifest-sha256.txt，国密为 manifest-sm3.txt）上的电子签名（CMS）验证通过",
    "1-1-3": "可信时间戳（RFC 3161）覆盖该签名且验证通过",
    "1-1-4": "签名证书和时间戳证书都能追溯到受信任的根证书",
    "1-2": "各元数据项的长度不超过规定上限",
    "1-3": "各元数据项的数据类型和格式正确",
    "1-4": "设定了值域的元数据项取值在值域之内",
    "1-5": "元数据值合理：日期先后正确且在合理范围内，证件号码等校验位正确",
    "1-6": "元数据中没有控制字符、乱码替换符、私用区字符或零宽字符",
    "1-7": "电子文件号（档号）格式规范，且与元数据和信息包名称一致",
    "1-8": "件内顺序号和文件名没有重复",
    "1-9": "每个文件的文件名、大小和格式都与其元数据一致",
    "1-10": "元数据中记录的 SM3/SHA-256 摘要与文件内容一致",
    "1-11": "每条文件元数据都指向其目录中的文件，每个文件也都有对应的元数据",
    "1-12": "元数据 XML 符合 XSD，摘要清单格式正确",
    "1-13": "信息包中只有规定的条目，文件名安全且不重复，使用公开的压缩方式",
    "1-14": "信息包的摘要与发送方记录的摘要一致",
    "2-1": "元数据记录的文件总件数、元数据中的文件数与信息包中的文件数三者相等",
    "2-2": "元数据记录的总字节数、声明的文件大小之和与信息包中的字节数三者相等",
    "2-3": "元数据方案规定的每个元素都存在",
    "2-4": "必著（必填）元数据项都不为空",
    "2-5": "办理过程信息包含受理和办结，且按时间先后排列",
    "2-6": "件内顺序号和办理过程序号从 1 起连续、无缺号",
    "2-7": "每个文件都不为空，能完整读到末尾且 CRC 校验正确",
    "2-9": "办结的办件包含申报文件和结果文件（符合归档范围）",
    "2-10": "元数据、摘要清单、电子签名和时间戳都在信息包中",
    "2-11": "元数据声明的每个文件都在信息包中",
    "3-1": "元数据 XML 能按 UTF-8 正常解析",
    "3-2": "归档目录数据库中的该条记录可以读取",
    "3-3": "每个文件的真实格式（按文件头识别）属于允许的格式，且与扩展名一致",
    "3-4": "每个文件都能正常打开：PDF 页面、OFD 结构、图像解码、XML 解析",
    "3-8": "文件未加密，未使用非公开的压缩方式",
    "4-1": "已安装并运行病毒扫描软件，且记录了病毒库版本",
    "4-2": "没有文件与病毒特征匹配",
    "4-3": "信息包中没有元数据未声明的多余文件",
    "4-4": "物理载体安全（在线移交时无载体）",
}
# what a status other than pass/fail means for one test
TEST_STATUS: dict[tuple[str, str], str] = {
    ("1-14", "not_applicable"): "归档检测时没有发送方记录的摘要可供比对，本项不适用",
    ("1-14", "manual"): "未提供发送方记录的信息包摘要，请人工与移交清单中的摘要核对",
    ("3-2", "not_applicable"): "离线检测不访问归档目录数据库；流水线在归档登记环节检查此项",
    ("3-4", "manual"): "部分文件无法自动判断能否打开，请人工打开核查",
    ("4-1", "manual"): "未配置病毒扫描软件，或只使用了开发用特征库，请用正式杀毒软件人工查杀",
    ("4-2", "manual"): "未扫描或只用开发用特征库扫描（不能证明无病毒），请用正式杀毒软件人工查杀",
    ("4-4", "not_applicable"): "在线移交，没有需要检查的物理载体",
}
# tests whose failure the archive's own system decides (the seal, the package it built, its catalogue, its scanner)
SYSTEM_TESTS = {"1-1-1", "1-1-2", "1-1-3", "1-1-4", "1-12", "1-13", "1-14", "2-10", "3-2", "4-1", "4-4"}
_TEST_ID = re.compile(r"^(GD|YJ)-(\d+(?:-\d+){1,2})$")


def test_code(test_id: str) -> str | None:
    """``1-10`` from ``GD-1-10`` or ``YJ-1-10``; None when the id is no check test's."""
    m = _TEST_ID.match(str(test_id or ""))
    return m.group(2) if m else None


def test_name(test_id: str) -> str:
    """The Chinese name of a check test (内容数字摘要一致性检测), or the id itself when unknown."""
    from .check.catalogue import CATALOGUE  # lazy: the CLI reads rule texts without loading the check

    code = test_code(test_id)
    return CATALOGUE[code][0] if code in CATALOGUE else str(test_id)


def test_text(test_id: str, status: str) -> str:
    """What a test's verdict means, in Chinese (``不通过：要求……``); never fails on an unknown id or status."""
    code = test_code(test_id) or ""
    want = TESTS.get(code)
    special = TEST_STATUS.get((code, status))
    if want is None:
        return f"检测项 {test_id or '—'}（未登记的检测项，详见英文说明）"
    if status == "pass":
        return f"通过：{want}。"
    if status == "fail":
        return f"不通过：要求{want}，本信息包未满足。"
    if status == "manual":
        return f"需人工核查：{special or want}。"
    if status == "not_applicable":
        return f"不适用：{special or '本阶段不检测此项'}。"
    return f"{want}（结果：{status or '—'}）。"


def _test_advice(code: str) -> tuple[str, str]:
    if code in SYSTEM_TESTS:
        return "此项由档案系统自身（固化、组包、目录或病毒扫描配置）决定，多半不是上传内容的问题；" + _CONTACT_ADVICE, CONTACT
    if code == "4-2":
        return "请用杀毒软件查杀原始材料，换成无病毒的文件，" + _AGAIN, FIX
    return "请对照说明核对办件材料和 case.json，" + _AGAIN + "如认为材料无误，请联系档案管理员并提供完整检测报告。", FIX


def rule_kind(code: Any) -> str:
    """``fix``, ``archived``, ``wait``, ``contact`` or ``system`` for a rule code (a failed test is a rule too)."""
    return _lookup(code)[2]


def rule_text(code: Any) -> tuple[str, str]:
    """(what is wrong, what to do) in Chinese for any rule code; an unknown code is treated as a system failure."""
    zh, advice, _ = _lookup(code)
    return zh, advice


def _lookup(code: Any) -> tuple[str, str, str]:
    text = str(code or "").strip()
    if text in RULES:
        return RULES[text]
    test = test_code(text)
    if test is not None:
        advice, kind = _test_advice(test)
        return f"检测项“{test_name(text)}”不通过：要求{TESTS.get(test, '（未登记的检测项）')}。", advice, kind
    if re.fullmatch(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)+", text):  # a rule code nobody has explained yet
        return f"不符合归档规则 {text}（该规则暂无中文说明，详见英文说明）。", "请按英文说明更正，" + _AGAIN + "如有疑问请联系档案管理员。", FIX
    return f"系统内部错误（{text or '未知错误'}），不是上传内容的问题。", _SYSTEM_ADVICE, SYSTEM


_INTERNAL_PATH = re.compile(r"(?:s3://|(?<![\w.])/)(?:[^\s'\"/()]+/)+([^\s'\"/()]+)")
_ARN = re.compile(r"\barn:aws[\w-]*:[^\s,;()'\"]*:([^\s,;():'\"]+)")
_ZONED_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")


def plain(text: Any) -> str:
    """Text for a person: ``s3://b/dir/x.zip``, ``/tmp/w/x.zip`` become ``x.zip``, an ARN its last part, a zoned time Beijing time."""
    shown = _ARN.sub(r"\1", _INTERNAL_PATH.sub(r"\1", "" if text is None else str(text)))
    return _ZONED_TIME.sub(lambda m: f"{beijing(m.group(0))} 北京时间", shown)


def file_label(file: Any) -> str:
    """The 文件 a clerk reads: a member's name, or 整个压缩包 when the problem is the whole upload (None, a stream, a URL)."""
    text = "" if file is None else str(file).strip()
    if not text or text in ("None", "(stream)") or text.startswith(("s3://", "/", "http://", "https://")):
        return "整个压缩包"
    return text


def describe(problem: dict[str, Any]) -> str:
    """One Chinese line for a problem dict (``rule``, ``file``, ``message``): the code, where, what is wrong, what to do."""
    rule = problem.get("rule")
    zh, advice = rule_text(rule)
    return f"{rule or '—'}（{file_label(problem.get('file'))}）：{zh}{advice}"


def overall_advice(status: str | None, problems: list[dict[str, Any]]) -> str:
    """What the platform should do about a whole rejection, in one Chinese paragraph (a duplicate is never told to fix)."""
    if status == "FAILED":
        return "系统处理失败。" + _SYSTEM_ADVICE
    kinds = {rule_kind(p.get("rule")) for p in problems} or {FIX}
    if kinds <= {ARCHIVED}:
        return rule_text(next((p.get("rule") for p in problems), "CASE-ALREADY-ARCHIVED"))[1]
    if kinds <= {ARCHIVED, WAIT}:
        return RULES["CASE-IN-PROGRESS"][1]
    if kinds <= {CONTACT, SYSTEM}:
        return "本次上传未归档，原因多半不在上传内容；" + _CONTACT_ADVICE
    return "本次上传未归档，原上传文件保留未动。请按下表“处理”一栏逐项修正，然后重新上传整个办件包。"
