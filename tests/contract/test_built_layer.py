"""The Lambda layer as ``sam build`` builds it (issue 22, F14 and F19): every handler and every console route imports from it
alone, it fits Lambda's size budget with room to spare, it ships no file twice, and its AWS SDK is the one the tests run.

``make test`` runs ``sam build`` first (``make validate``), which runs layers/earchive/Makefile: that output is used when it
is newer than everything it is built from; otherwise the test runs the same Makefile recipe itself (pip, the same flags).
The imports run in a separate interpreter with ``-S`` (no site-packages: nothing from .venv leaks in, and, as on Lambda,
the layer must bring its own boto3) and only the built layer and the function's folder on its path.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tomllib
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_SRC = ROOT / "layers" / "earchive"
SAM_OUTPUT = ROOT / ".aws-sam" / "build" / "EarchiveLayer"
OWN_BUILD = ROOT / ".aws-sam" / "layer-check"  # .aws-sam/ is ignored by git
BUDGET = 200 * 1000 * 1000  # bytes unzipped; Lambda allows 250 MB for a function and all its layers together
SDK = ("boto3", "botocore", "s3transfer")  # pinned together (F19)

# What runs in the clean interpreter: argv[1] is the layer's python/ folder, argv[2] the functions/ folder.
PROBE = r'''
import ast, importlib, importlib.util, json, pkgutil, sys
from pathlib import Path

layer, functions = Path(sys.argv[1]), Path(sys.argv[2])
sys.path[:0] = [str(layer)]
out = {"leaks": [p for p in sys.path if "site-packages" in p], "handlers": {}, "modules": 0, "imports": 0, "failed": {}}

import earchive
out["earchive"] = earchive.__file__

def attempt(what, fn):
    try:
        return fn()
    except BaseException as exc:  # noqa: BLE001 - each failure is reported by name
        out["failed"][what] = f"{type(exc).__name__}: {exc}"

# every handler as Lambda loads it: the function's folder first (/var/task), then the layer (/opt/python)
for folder in sorted(p for p in functions.iterdir() if (p / "app.py").is_file()):
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"app_{folder.name}", folder / "app.py")
    module = importlib.util.module_from_spec(spec)
    attempt(f"functions/{folder.name}/app.py", lambda: spec.loader.exec_module(module))
    out["handlers"][folder.name] = callable(getattr(module, "handler", None))
    sys.path.remove(str(folder))

# every module of the library, and every import written inside a function (the lazy ones a route or step reaches later)
DEV_ONLY = ("earchive_devtools", "msvcrt")
for info in pkgutil.walk_packages(earchive.__path__, "earchive."):
    if info.name == "earchive.__main__":  # runs the CLI (`python -m earchive`); its imports are cli's, walked here too
        continue
    attempt(info.name, lambda: importlib.import_module(info.name))
    out["modules"] += 1
for path in sorted(Path(earchive.__file__).parent.rglob("*.py")):
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in DEV_ONLY:
                continue
            def load(name=name, node=node):
                try:
                    importlib.import_module(name)
                except ModuleNotFoundError:
                    if isinstance(node, ast.ImportFrom) and name != node.module:  # `from m import attr`: an attribute, not a module
                        getattr(importlib.import_module(node.module), name.rsplit(".", 1)[1])
                    else:
                        raise
            attempt(f"{path.relative_to(layer)}: import {name}", load)
            out["imports"] += 1

# every console route: the OpenAPI document (pydantic, F14) names them all; /openapi.json answers through the resolver
from earchive.console.api import PUBLIC, ROUTES, make_app
app = make_app(None)
def openapi():
    ctx = {"http": {"method": "GET", "path": "/openapi.json", "sourceIp": "127.0.0.1"}, "stage": "$default", "requestId": "probe"}
    event = {"version": "2.0", "routeKey": "GET /openapi.json", "rawPath": "/openapi.json", "rawQueryString": "", "headers": {},
             "requestContext": ctx, "isBase64Encoded": False}
    answer = app.resolve(event, None)
    out["openapi_status"] = answer["statusCode"]
    if answer["statusCode"] != 200:
        raise RuntimeError(f"{answer['statusCode']}: {answer['body']}")
    paths = json.loads(answer["body"])["paths"]
    out["routes"] = [f"{m} {p}" for m, p, *_ in ROUTES] + [f"GET {p}" for p in PUBLIC]
    out["documented"] = sorted(f"{m.upper()} {p}" for p, ops in paths.items() for m in ops)
attempt("GET /openapi.json", openapi)

import boto3, botocore, s3transfer, cvttf_NotoSansCJK_Regular
out["sdk"] = {m.__name__: [m.__version__, m.__file__] for m in (boto3, botocore, s3transfer)}
from earchive.domain.exports import _bundled
out["font"] = str(_bundled()) if _bundled().is_file() else None

# the printed transfer list as a Lambda draws it: no fontconfig (PATH is empty), the bundled font, its Simplified-Chinese face
def render():
    import tempfile
    from earchive.domain.exports import pdf_font
    from earchive.domain.transfer_form import transfer_list_pdf
    ids = [f"430102-0102-430000000707-2026-Y-00000{i}" for i in (1, 2)]
    document = {"batch_id": "202611250001", "institution_name": "芙蓉区档案馆", "transferor": "欧阳明月", "receiver": None,
                "transfer_date": "2026-11-25", "resubmits": None,
                "rows": [{"序号": 1, "批次编号": "202611250001", "办理事项名称": "企业设立登记", "事项类型": "行政权力事项",
                          "归档信息包数量": 2, "检测意见": "合格 2 件", "备注": ""}],
                "packages": [{"record_code": i, "project_id": "P1", "task_name": "企业设立登记", "version": 1,
                              "digest": {"algorithm": "SM3", "value": "a" * 64}, "sha256": "b" * 64, "size": 1} for i in ids]}
    from pypdf import PdfReader
    path = transfer_list_pdf(document, Path(tempfile.mkdtemp()) / "list.pdf")
    fonts = {str(f.get_object()["/BaseFont"]) for page in PdfReader(path).pages for f in page["/Resources"]["/Font"].values()}
    out["pdf"] = {"pages": len(PdfReader(path).pages), "fonts": sorted(fonts), "font": pdf_font()[0]}
attempt("the printed transfer list", render)
print(json.dumps(out))
'''


def _newest_source() -> float:
    files = [LAYER_SRC / "requirements.txt", LAYER_SRC / "Makefile", *(p for p in (LAYER_SRC / "earchive").rglob("*") if p.is_file()
                                                                      and "__pycache__" not in p.parts)]
    return max(p.stat().st_mtime for p in files)


@pytest.fixture(scope="module")
def layer() -> Path:
    """The built layer's python/ folder: sam build's own output when it is current, else the same recipe run here."""
    for built in (SAM_OUTPUT, OWN_BUILD):
        stamp = built / "python" / "earchive" / "__init__.py"
        if stamp.is_file() and (built / "python").stat().st_mtime >= _newest_source():
            return built / "python"
    OWN_BUILD.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["make", "--no-print-directory", "-C", str(LAYER_SRC), "build-EarchiveLayer", f"ARTIFACTS_DIR={OWN_BUILD}",
                           f"PYTHON={sys.executable}"], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"building the layer failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return OWN_BUILD / "python"


@pytest.fixture(scope="module")
def probe(layer: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("layer-home")  # the derived font goes here (on Lambda: /tmp)
    env = {"PATH": "", "HOME": str(home), "EARCHIVE_HOME": str(home), "TMPDIR": str(home), "AWS_DEFAULT_REGION": "cn-north-1",
           "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_TRACE_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-S", "-s", "-B", "-c", PROBE, str(layer), str(ROOT / "functions")], capture_output=True, text=True,
                          env=env, cwd=layer, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-5000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "home": str(home)}


@pytest.mark.slow
def test_every_handler_and_route_imports_from_the_built_layer_alone(probe: dict, layer: Path) -> None:
    assert probe["leaks"] == [], "the probe's interpreter saw site-packages"
    assert Path(probe["earchive"]).is_relative_to(layer)
    assert probe["failed"] == {}, "\n".join(f"{k}: {v}" for k, v in probe["failed"].items())
    functions = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file())
    assert probe["handlers"] == dict.fromkeys(functions, True)
    assert probe["modules"] > 50 and probe["imports"] > 100  # the walk really walked
    assert probe["openapi_status"] == 200
    assert probe["pdf"]["pages"] >= 1 and len(probe["pdf"]["fonts"]) == 1 and "SC" in probe["pdf"]["fonts"][0], probe["pdf"]
    assert Path(probe["pdf"]["font"]).parent.parent == Path(probe["home"]), "the Simplified-Chinese face derived from the bundled font"
    documented = set(probe["documented"])
    api = [r for r in probe["routes"] if " /api/" in r]
    missing = [r for r in api if re.sub(r"<(\w+)>", r"{\1}", r) not in documented]
    assert not missing, f"routes missing from /openapi.json: {missing}"


@pytest.mark.slow
def test_the_layer_ships_the_sdk_it_pins(probe: dict, layer: Path) -> None:
    pins = _requirements(LAYER_SRC / "requirements.txt")
    for name in SDK:
        shipped, where = probe["sdk"][name]
        assert Path(where).is_relative_to(layer), f"{name} did not come from the layer"
        assert pins[name] == f"=={shipped}", f"{name}: the layer ships {shipped}, requirements.txt says {pins[name]}"
    assert probe["font"] and Path(probe["font"]).is_relative_to(layer)


@pytest.mark.slow
def test_the_layer_fits_its_budget_and_ships_nothing_twice(layer: Path) -> None:
    sizes: dict[str, int] = defaultdict(int)
    by_content: dict[tuple[int, str], list[str]] = defaultdict(list)
    total = 0
    for path in layer.rglob("*"):
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            total += size
            sizes[path.relative_to(layer).parts[0]] += size
            if size >= 1_000_000:
                by_content[(size, hashlib.sha256(path.read_bytes()).hexdigest())].append(str(path.relative_to(layer)))
    biggest = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:8])
    assert total < BUDGET, f"the layer is {total / 1e6:.1f} MB unzipped (budget {BUDGET / 1e6:.0f} MB): {biggest}"
    twice = [paths for paths in by_content.values() if len(paths) > 1]
    assert not twice, f"shipped more than once: {twice}"
    assert len(list(layer.rglob("*.otf"))) == 1, "the CJK font ships once"


GLIBC = (2, 26)  # Amazon Linux 2, under Lambda's python3.11 (AWS: "Lambda runtimes"); python3.12+ run on AL2023, glibc 2.34
LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _runs_on_lambda(tag: str) -> bool:
    """Whether a wheel tag (``cp311-cp311-manylinux_2_17_x86_64``) loads in Lambda's CPython 3.11 on x86_64."""
    python, abi, platform = tag.split("-")
    if not (python in ("py3", "py2.py3", "cp311") or (abi == "abi3" and python.startswith("cp3") and int(python[3:]) <= 11)):
        return False
    if platform == "any":
        return True
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_x86_64", platform)
    if legacy:
        return LEGACY[legacy.group(1)] <= GLIBC
    perennial = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform)
    return bool(perennial) and (int(perennial.group(1)), int(perennial.group(2))) <= GLIBC


@pytest.mark.slow
def test_every_wheel_in_the_layer_runs_on_lambdas_python311(layer: Path) -> None:
    """The tests import the layer on this machine (a newer glibc); this checks what they cannot: each wheel's own tags."""
    wheels = sorted(layer.glob("*.dist-info/WHEEL"))
    assert len(wheels) > 30
    wrong = {}
    for wheel in wheels:
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text("utf-8").splitlines() if line.startswith("Tag:")]
        if not any(_runs_on_lambda(t) for t in tags):
            wrong[wheel.parent.name] = tags
    assert not wrong, f"wheels that Lambda's python3.11 (x86_64, glibc 2.26) cannot load: {wrong}"
    assert _runs_on_lambda("cp311-cp311-manylinux2014_x86_64") and not _runs_on_lambda("cp311-cp311-manylinux_2_28_x86_64")
    assert not _runs_on_lambda("cp312-cp312-manylinux2014_x86_64") and not _runs_on_lambda("cp311-cp311-manylinux2014_aarch64")

def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0]).lower()


def _requirements(path: Path) -> dict[str, str]:
    """name -> the version specifier as written (extras and comments aside)."""
    out = {}
    for line in path.read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out[_name(line)] = re.sub(r"^[^\s\[<>=!~;]+(\[[^\]]*\])?", "", line).replace(" ", "")
    return out


# Where the two lists may differ, and why.
SPECIFIER_DIFFERENCES = {"pillow": "the layer needs manylinux2014 wheels for Amazon Linux 2 (<12); the tests may run a newer pillow"}


def test_requirements_txt_and_pyproject_agree_and_pin_the_sdk_the_tests_run() -> None:
    """requirements.txt (what SAM builds) and pyproject.toml (what .venv runs) list the same packages; the SDK pins are the same
    in both and are the versions installed here, so the layer ships the SDK the tests ran."""
    layer = _requirements(LAYER_SRC / "requirements.txt")
    project = {}
    for requirement in tomllib.loads((LAYER_SRC / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]:
        project[_name(requirement)] = re.sub(r"^[^\s\[<>=!~;]+(\[[^\]]*\])?", "", requirement).replace(" ", "")
    assert sorted(layer) == sorted(project), f"only in requirements.txt: {set(layer) - set(project)}; only in pyproject: {set(project) - set(layer)}"
    differ = {n for n in layer if layer[n] != project[n]}
    assert differ <= set(SPECIFIER_DIFFERENCES), {n: (layer[n], project[n]) for n in differ}
    for name in SDK:
        assert layer[name] == project[name] == f"=={version(name)}", f"{name}: pin it at the version the tests run ({version(name)})"
