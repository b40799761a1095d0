"""The house rules of the library's layout, checked so that they stay true (docs/adr/0008-the-house.md).

- boto3 and botocore are imported only by the AWS adapters (earchive.aws) and the development tools;
- the domain imports nothing from AWS, and works with boto3 absent;
- the environment is read in one place (earchive.config), and every variable is in the README's table;
- no library module is over 450 lines;
- the development tools are not part of the Lambda layer.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from earchive.config import Settings, environment_markdown
from earchive_devtools.template import load_template

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "layers" / "earchive" / "earchive"
AWS_MODULES = ("boto3", "botocore", "aws_lambda_powertools")


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (relative imports resolved)."""
    package = ".".join(path.relative_to(LIB.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def library_files() -> list[Path]:
    return sorted(p for p in LIB.rglob("*.py") if "__pycache__" not in p.parts)


def test_boto3_is_imported_only_by_the_aws_adapters():
    for path in library_files():
        if path.is_relative_to(LIB / "aws"):
            continue
        found = {m for m in imports(path) if m.split(".")[0] in ("boto3", "botocore")}
        assert not found, f"{path.relative_to(ROOT)} imports {found}: AWS calls belong in earchive/aws/"


def test_the_states_make_no_aws_call_themselves():
    """States call adapter methods (rt.aws.s3.put, rt.aws.catalogue.move…), never a boto3 client or table directly."""
    api = {"put_object", "get_object", "head_object", "copy_object", "upload_file", "upload_fileobj", "list_object_versions",
           "delete_object", "put_object_tagging", "update_item", "put_item", "get_item", "query", "scan", "batch_writer",
           "describe_execution", "start_execution", "send_task_success", "get_parameter"}
    for path in library_files():
        if not path.is_relative_to(LIB / "pipeline"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in api:
                raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} calls .{node.attr}: use an adapter in earchive/aws/")
            if isinstance(node, ast.Attribute) and node.attr in ("table", "client"):
                raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} reaches .{node.attr} under an adapter")


def test_the_domain_imports_nothing_from_aws():
    for path in sorted((LIB / "domain").glob("*.py")):
        bad = {m for m in imports(path) if m.split(".")[0] in AWS_MODULES or m.startswith(("earchive.aws", "earchive.pipeline"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the domain is pure"


def test_pack_and_check_work_with_no_aws_library_installed(tmp_path):
    """Block boto3, botocore and Powertools, then pack and check a case: the domain, crypto and check need none of them."""
    script = f"""
import sys
for name in {AWS_MODULES!r}:
    sys.modules[name] = None
from pathlib import Path
from earchive.check import check_package
from earchive.crypto.signers import make_signer, make_tsa
from earchive.domain.pack import pack
from earchive_devtools.sample import sample_case
case = sample_case(Path({str(tmp_path)!r}) / "cases", seed=11)
result = pack(case.folder, Path({str(tmp_path)!r}) / "out", signer=make_signer("local-ec"), tsa=make_tsa("local"))
report = check_package(result.path)
assert report.passed, [r.as_dict() for r in report.failures]
assert not any(m.split(".")[0] in {AWS_MODULES!r} for m in sys.modules if sys.modules[m] is not None)
print("ok", result.path.name)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={"EARCHIVE_HOME": str(tmp_path / "home"),
                                                                                               "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok ")


def test_the_environment_is_read_only_by_the_config_module():
    for path in library_files():
        if path.name == "config.py" and path.parent == LIB:
            continue
        text = path.read_text("utf-8")
        assert "os.environ" not in text and "getenv" not in text, f"{path.relative_to(ROOT)} reads the environment: use earchive.config"


def test_every_variable_the_template_sets_is_a_setting_and_the_readme_lists_them_all():
    template = load_template(ROOT / "template.yaml")
    variables = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            variables |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    known = {f.metadata["env"] for f in Settings.__dataclass_fields__.values() if "env" in f.metadata}
    ours = {v for v in variables if not v.startswith("POWERTOOLS_")}
    assert ours <= known, f"template.yaml sets {ours - known}, which earchive.config.Settings does not read"
    readme = (ROOT / "README.md").read_text("utf-8")
    assert environment_markdown() in readme, "regenerate the README's table from earchive.config.environment_markdown()"


def test_settings_read_from_a_mapping_are_typed():
    s = Settings.from_env({"ALLOWED_FORMATS": "pdf,ofd", "EARCHIVE_ERRORS_JSON": "1", "CATALOGUE_TABLE": "c", "EARCHIVE_TSA": ""})
    assert s.allowed_formats == ("pdf", "ofd") and s.errors_json is True and s.catalogue_table == "c" and s.tsa is None


def test_no_library_module_is_over_450_lines():
    for path in library_files():
        n = len(path.read_text("utf-8").splitlines())
        assert n <= 450, f"{path.relative_to(ROOT)} has {n} lines; split it"


def test_the_lambda_layer_holds_no_development_tools():
    """The layer is built from layers/earchive/ (template.yaml's ContentUri); the tools live in devtools/."""
    template = load_template(ROOT / "template.yaml")
    layer = template["Resources"]["EarchiveLayer"]["Properties"]["ContentUri"].rstrip("/")
    assert layer == "layers/earchive"
    content = ROOT / layer
    assert not list(content.rglob("localcloud.py")) and not list(content.rglob("demo.py")) and not list(content.rglob("sample.py"))
    requirements = (content / "requirements.txt").read_text("utf-8").lower()
    for tool in ("moto", "pyyaml", "pytest", "hypothesis", "bagit"):
        assert tool not in requirements, f"{tool} would ship in the Lambda layer"
    built = ROOT / ".aws-sam" / "build" / "EarchiveLayer" / "python"
    if built.exists():  # `make test` builds it first (sam build)
        assert (built / "earchive" / "pipeline" / "handler.py").exists()
        assert not (built / "earchive_devtools").exists() and not (built / "moto").exists()


def test_every_check_code_is_one_function_in_the_module_of_its_property():
    """GD-2-5 is integrity.t_2_5_…: the file name is the property, so the code says which file to open."""
    import importlib

    from earchive.check.catalogue import CATALOGUE, PROPERTIES

    for code in CATALOGUE:
        module = importlib.import_module(f"earchive.check.{PROPERTIES[code[0]]}")
        prefix = "t_" + code.replace("-", "_") + "_"
        found = [name for name in dir(module) if name.startswith(prefix) and callable(getattr(module, name))]
        assert len(found) == 1, f"{code}: expected one function {prefix}… in earchive.check.{PROPERTIES[code[0]]}, found {found}"
