"""Airflow's own provider checks, run against this package on the installed Airflow.

Ported from the checks Airflow runs over its providers: ``validate-operators-init`` and the
template-fields check (every templated field is an ``__init__`` argument stored unchanged on
``self`` under its own name, so rendering it is all that happens to it), the provider-info
schema, and a serialization round trip of every example DAG.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_lipachat.compat import BaseNotifier, BaseOperator
from airflow_provider_lipachat.get_provider_info import get_provider_info
from tests.support import REPO_ROOT

EXAMPLES = sorted((REPO_ROOT / "example_dags").glob("*.py"))
PACKAGE = "airflow_provider_lipachat"


def provider_modules() -> list[str]:
    """The operator and sensor modules, and the notifiers' modules, that the provider info lists."""
    info = get_provider_info()
    modules = [m for kind in ("operators", "sensors") for entry in info[kind] for m in entry["python-modules"]]
    modules += [path.rsplit(".", 1)[0] for path in info["notifications"]]
    return sorted(set(modules))


def provider_classes() -> list[type]:
    """Every operator, sensor and notifier class defined in those modules, abstract bases included."""
    found = []
    for name in provider_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseOperator | BaseNotifier):
                found.append(cls)
    return found


def own_inits(cls: type) -> list[ast.FunctionDef]:
    """The parsed ``__init__`` of ``cls`` and of each of its bases defined in this package (not Airflow's)."""
    inits = []
    for klass in cls.__mro__:
        ours = klass.__module__.startswith(PACKAGE) or klass.__module__ == cls.__module__
        if ours and "__init__" in klass.__dict__:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass.__dict__["__init__"])))
            [init] = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
            inits.append(init)
    return inits


def parameters(init: ast.FunctionDef) -> set[str]:
    args = init.args
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]} - {"self"}


def template_field_problems(cls: type) -> list[str]:
    """What Airflow's checks would report about ``cls``'s template fields, as readable lines."""
    problems = []
    fields: Sequence[str] = cls.template_fields  # type: ignore[attr-defined]
    if not isinstance(fields, tuple):
        problems.append(f"template_fields is a {type(fields).__name__}, not a tuple")
    declared = dict(_class_body_assignments(cls)).get("template_fields")
    if declared is not None and not isinstance(declared, ast.Tuple):
        problems.append("template_fields is not declared as a tuple literal")
    inits = own_inits(cls)
    assigned: set[str] = set()
    for init in inits:
        params = parameters(init)
        for node in ast.walk(init):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            for target in targets:
                if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
                    continue
                if target.value.id != "self" or target.attr not in fields:
                    continue
                value = node.value  # type: ignore[union-attr]
                if isinstance(value, ast.Name) and value.id == target.attr and target.attr in params:
                    assigned.add(target.attr)
                else:
                    problems.append(f"self.{target.attr} is assigned {ast.unparse(value)!r}, not the argument itself")
        for name in ast.walk(init):
            if (
                isinstance(name, ast.Name)
                and name.id in fields
                and name.id in params
                and _used_beyond_storing(init, name)
            ):
                problems.append(f"__init__ uses template field {name.id!r} before it is rendered")
    all_params = set().union(*(parameters(init) for init in inits)) if inits else set()
    for field in fields:
        if field not in all_params:
            problems.append(f"template field {field!r} is not an __init__ argument")
        elif field not in assigned:
            problems.append(f"template field {field!r} is never stored as self.{field} = {field}")
    renderers = getattr(cls, "template_fields_renderers", {})
    problems += [f"renderer for {name!r}, which is no template field" for name in renderers if name not in fields]
    return sorted(set(problems))


def _class_body_assignments(cls: type) -> Iterator[tuple[str, ast.expr]]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    for node in tree.body[0].body:  # type: ignore[attr-defined]
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    yield target.id, node.value


def _used_beyond_storing(init: ast.FunctionDef, name: ast.Name) -> bool:
    """Whether this read of an argument is anything but ``self.x = x`` or ``super().__init__(x=x)``."""
    for node in ast.walk(init):
        if isinstance(node, ast.Assign) and node.value is name:
            return not all(isinstance(t, ast.Attribute) and t.attr == name.id for t in node.targets)
        if isinstance(node, ast.keyword) and node.value is name:
            return node.arg != name.id
    return True


CLASSES = provider_classes()


def test_the_checks_cover_every_operator_the_sensor_and_the_notifier() -> None:
    assert {cls.__name__ for cls in CLASSES} == {
        "WhatsAppSendOperator",
        "SendWhatsAppMediaOperator",
        "SendWhatsAppTextOperator",
        "SendWhatsAppTemplateOperator",
        "SendWhatsAppButtonsOperator",
        "_MessageListSensor",
        "WhatsAppDeliverySensor",
        "WhatsAppReplySensor",
        "LipaChatNotifier",
    }


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_template_fields_are_init_arguments_stored_unchanged(cls: type) -> None:
    assert template_field_problems(cls) == []


class CarelessOperator(BaseOperator):
    """Breaks each rule once, so the check above is known to catch what Airflow's would."""

    template_fields: Sequence[str] = ["to", "message", "sender", "missing"]
    template_fields_renderers = {"body": "md"}  # noqa: RUF012

    def __init__(self, *, to: str, message: str, sender: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.to = to.strip()
        if message:
            self.message = message
        self.sender = sender


def test_the_template_field_check_reports_each_kind_of_mistake() -> None:
    assert template_field_problems(CarelessOperator) == [
        "__init__ uses template field 'message' before it is rendered",
        "__init__ uses template field 'to' before it is rendered",
        "renderer for 'body', which is no template field",
        "self.to is assigned 'to.strip()', not the argument itself",
        "template field 'missing' is not an __init__ argument",
        "template field 'to' is never stored as self.to = to",
        "template_fields is a list, not a tuple",
        "template_fields is not declared as a tuple literal",
    ]


def airflow_schema(name: str) -> dict[str, Any]:
    """A JSON schema that the installed Airflow ships beside its package."""
    import airflow

    schema: dict[str, Any] = json.loads((Path(airflow.__file__).parent / name).read_text())
    return schema


def test_provider_info_is_valid_for_the_installed_airflow() -> None:
    import jsonschema

    jsonschema.validate(get_provider_info(), airflow_schema("provider_info.schema.json"))


def test_the_connection_type_is_valid_for_the_provider_yaml_schema() -> None:
    """Airflow 3.2+ defines ``conn-fields`` and ``ui-field-behaviour`` in its provider.yaml schema."""
    import jsonschema

    schema = airflow_schema("provider.yaml.schema.json")["properties"]["connection-types"]
    if "conn-fields" not in schema["items"]["properties"]:
        pytest.skip("this Airflow's provider.yaml schema does not define conn-fields (added in 3.2)")
    jsonschema.validate(get_provider_info()["connection-types"], schema)


def dag_serializer() -> Any:
    from airflow.serialization import serialized_objects

    # Airflow 3.3 split writing (DagSerialization) from the deserialized DAG (SerializedDAG).
    return getattr(serialized_objects, "DagSerialization", None) or serialized_objects.SerializedDAG


def load_example(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class TaskShape:
    """What a task must keep through serialization: its class, its edges and its templated values."""

    operator: str
    module: str
    template_fields: list[str]
    upstream: list[str]
    values: dict[str, Any]


def shape(task: Any, fields: Sequence[str]) -> TaskShape:
    """``task`` as the serializer should keep it; a mapped task keeps its arguments in partial/expand."""
    mapped = "Mapped" in type(task).__name__
    module = task._task_module if mapped or hasattr(task, "_task_module") else type(task).__module__
    return TaskShape(
        operator=task.task_type,
        module=module,
        template_fields=list(task.template_fields),
        upstream=sorted(task.upstream_task_ids),
        values={} if mapped else {f: json.loads(json.dumps(getattr(task, f), default=str)) for f in fields},
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_every_example_dag_survives_serialization(path: Path) -> None:
    dag = load_example(path).dag
    serializer = dag_serializer()
    restored = serializer.from_dict(serializer.to_dict(dag))
    assert restored.dag_id == dag.dag_id
    assert sorted(restored.task_ids) == sorted(dag.task_ids)
    for task in dag.tasks:
        # The provider's operators keep every templated value; Airflow's own (a @task.branch, say) are
        # Airflow's to keep: 2.11 serializes an XComArg in op_args as its Jinja text.
        ours = shape(task, ()).module.startswith("airflow_provider_lipachat")
        fields = task.template_fields if ours else ()
        assert shape(restored.get_task(task.task_id), fields) == shape(task, fields), task.task_id
