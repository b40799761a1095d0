"""One name everywhere: the ASL's states ↔ template.yaml's functions ↔ functions/ folders ↔ the state modules,
and the ASL's ErrorEquals ↔ the classes of earchive.errors.

Step Functions catches a Lambda error by its class name, and finds a state's
function by a substitution: a rename on one side that misses the other
breaks the pipeline silently. These tests make such a rename fail here.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from earchive import errors
from earchive.pipeline.registry import STEPS
from earchive_devtools.template import load_template

ROOT = Path(__file__).resolve().parents[2]
MACHINES = {m: ROOT / "statemachine" / f"{m}.asl.json" for m in ("archive", "transfer", "reply")}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def states(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a machine, Map iterators included."""
    out: dict[str, dict[str, Any]] = {}
    for name, state in node["States"].items():
        out[name] = state
        for inner in ("ItemProcessor", "Iterator"):
            if inner in state:
                out.update(states(state[inner]))
    return out


def tasks(machine: str) -> dict[str, str]:
    """ASL Task state name → the logical id of the function it invokes."""
    found = {}
    for name, state in states(json.loads(MACHINES[machine].read_text("utf-8"))).items():
        if state["Type"] == "Task":
            m = re.fullmatch(r"\$\{(\w+)Arn\}", state["Parameters"]["FunctionName"])
            assert m, f"{name}: FunctionName {state['Parameters']['FunctionName']} is not a template substitution"
            found[name] = m.group(1)
    return found


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.mark.parametrize("machine", list(MACHINES))
def test_every_task_state_has_its_function_folder_and_state_module_under_one_name(machine, template):
    machines = {logical: r for logical, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"}
    (sm,) = [r for r in machines.values() if r["Properties"]["DefinitionUri"].endswith(MACHINES[machine].name)]
    subs = sm["Properties"]["DefinitionSubstitutions"]
    for state, logical in tasks(machine).items():
        step = snake(state) if machine == "archive" else f"{machine}.{snake(state)}"
        folder = step.replace(".", "_")
        expected_logical = "".join(part.capitalize() for part in folder.split("_")) + "Function"
        assert logical == expected_logical, f"ASL state {state} invokes {logical}, expected {expected_logical}"
        assert subs[f"{logical}Arn"] == {"Fn::GetAtt": [logical, "Arn"]}, f"{logical}Arn is not substituted by {logical}.Arn"
        function = template["Resources"][logical]
        assert function["Type"] == "AWS::Serverless::Function"
        assert function["Properties"]["CodeUri"].rstrip("/") == f"functions/{folder}"
        app = (ROOT / "functions" / folder / "app.py").read_text("utf-8")
        assert f'make_handler("{step}")' in app, f"functions/{folder}/app.py does not run {step}"
        module = importlib.import_module(f"earchive.pipeline.{machine}.{snake(state)}")
        assert STEPS[step].run is module.run, f"the registry's {step} is not earchive.pipeline.{machine}.{snake(state)}.run"


# Functions that are not steps: they answer HTTP (an HttpApi event), each one library package of the same name.
API_FUNCTIONS = {"ConsoleFunction": "console"}
# Functions API Gateway calls to check a token (a Lambda authorizer): no event of their own, one library module each.
AUTHORIZER_FUNCTIONS = {"ConsoleAuthorizerFunction": ("console_authorizer", "earchive.console.authorizer")}


def test_nothing_is_left_over_on_any_side(template):
    """No function, folder or registered state without its ASL state (or, for an API function, its HTTP routes and package)."""
    used = {step for m in MACHINES for step in ((snake(s) if m == "archive" else f"{m}.{snake(s)}") for s in tasks(m))}
    assert set(STEPS) == used
    folders = {p.name for p in (ROOT / "functions").iterdir() if p.is_dir()}
    assert folders == {s.replace(".", "_") for s in used} | set(API_FUNCTIONS.values()) | {f for f, _ in AUTHORIZER_FUNCTIONS.values()}
    functions = {logical for logical, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == {logical for m in MACHINES for logical in tasks(m).values()} | set(API_FUNCTIONS) | set(AUTHORIZER_FUNCTIONS)
    for logical, (folder, module) in AUTHORIZER_FUNCTIONS.items():
        props = template["Resources"][logical]["Properties"]
        assert props["CodeUri"].rstrip("/") == f"functions/{folder}" and not props.get("Events"), f"{logical} is called by API Gateway only"
        assert f"from {module} import handler" in (ROOT / "functions" / folder / "app.py").read_text("utf-8")
        importlib.import_module(module)
    for logical, package in API_FUNCTIONS.items():
        props = template["Resources"][logical]["Properties"]
        assert props["CodeUri"].rstrip("/") == f"functions/{package}"
        assert props["Events"] and all(e["Type"] == "HttpApi" for e in props["Events"].values()), f"{logical} answers HTTP only"
        assert f"from earchive.{package}.handler import handler" in (ROOT / "functions" / package / "app.py").read_text("utf-8")
        importlib.import_module(f"earchive.{package}.handler")


def test_every_error_the_asl_names_is_a_class_of_the_errors_module():
    """ErrorEquals match the Lambda's errorType, which is the exception's class name."""
    names = set()
    for path in MACHINES.values():
        for state in states(json.loads(path.read_text("utf-8"))).values():
            for rule in state.get("Retry", []) + state.get("Catch", []):
                names |= {n for n in rule["ErrorEquals"] if not n.startswith(("States.", "Lambda."))}
    assert names, "the machines name no error of ours"
    for name in sorted(names):
        cls = getattr(errors, name, None)
        assert isinstance(cls, type) and issubclass(cls, errors.BaseError), f"ASL names {name}, which earchive.errors does not define"


def test_every_error_class_of_the_library_lives_in_the_errors_module():
    import ast

    lib = ROOT / "layers" / "earchive" / "earchive"
    for path in lib.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not bases & {"Exception", "BaseError", "EarchiveError", "ValueError", "RuntimeError"}, \
                    f"{path.relative_to(ROOT)}: exception {node.name} belongs in earchive/errors.py"
