"""CloudFormation's resource type schemas, as data: what each type is and how it updates.

AWS publishes a provider schema per resource type (the CloudFormation registry); cfn-lint
ships them (`cfnlint/data/schemas/providers/us-east-1.json` names each type's file under
`cfnlint/data/schemas/resources/`). Only those data files are read here, never cfn-lint's
code. A schema gives:

- whether a type exists at all: a template naming an unknown type is refused at
  CreateStack / ValidateTemplate ("Unrecognized resource types"), as AWS does;
- `createOnlyProperties`: a change to one replaces the resource (update semantics, and the
  change set's Replacement / RequiresRecreation); `conditionalCreateOnlyProperties` may
  (Replacement "Conditional");
- `required`: properties a resource must have ("Properties validation failed ...").
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"  # the region whose list of types is taken for every region


@dataclass(frozen=True)
class Schema:
    type_name: str
    create_only: frozenset[str]  # top-level properties whose change replaces the resource
    conditional: frozenset[str]  # ... whose change may
    required: tuple[str, ...]


def _top(pointers) -> frozenset[str]:
    """'/properties/Tags/0/Key' -> 'Tags'."""
    return frozenset(p.split("/")[2] for p in pointers or () if p.startswith("/properties/"))


@functools.cache
def _directory() -> Path | None:
    """cfn-lint's schema directory, found without importing cfn-lint (its code needs what is
    not installed)."""
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"


@functools.cache
def _providers() -> dict[str, str]:
    directory = _directory()
    try:
        return json.loads((directory / "providers" / f"{REGION}.json").read_text()) \
            if directory else {}
    except FileNotFoundError:
        return {}  # no schemas installed: nothing is refused for being unknown


def known(type_name: str) -> bool:
    """Whether AWS has the type (custom resources and modules always are)."""
    providers = _providers()
    return (not providers or type_name in providers or type_name.startswith("Custom::")
            or type_name == "AWS::CloudFormation::CustomResource"
            or type_name.endswith("::MODULE"))


@functools.cache
def schema(type_name: str) -> Schema | None:
    digest = _providers().get(type_name)
    if digest is None:
        return None
    directory = _directory()
    assert directory is not None
    document = json.loads((directory / "resources" / f"{digest}.json").read_text())
    return Schema(type_name, _top(document.get("createOnlyProperties")),
                  _top(document.get("conditionalCreateOnlyProperties")),
                  tuple(document.get("required") or ()))


def _same(a, b) -> bool:
    """Template values compare as CloudFormation passes them: 100 == "100", true == "true"."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return _scalar(a) == _scalar(b)


def _scalar(value) -> str | None:
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def replaces(type_name: str, old: dict, new: dict) -> bool:
    """Whether updating these properties replaces the resource (a createOnly one changed)."""
    found = schema(type_name)
    return found is not None and any(not _same(old.get(n), new.get(n))
                                     for n in found.create_only)


def replacement(type_name: str, old: dict, new: dict) -> tuple[str, list[dict]]:
    """A property update's change set verdict: ("True" | "Conditional" | "False", Details)."""
    found = schema(type_name)
    details, verdict = [], "False"
    for name in sorted(set(old) | set(new)):
        if _same(old.get(name), new.get(name)):
            continue
        recreation = ("Always" if found and name in found.create_only else
                      "Conditionally" if found and name in found.conditional else "Never")
        if recreation == "Always":
            verdict = "True"
        elif recreation == "Conditionally" and verdict == "False":
            verdict = "Conditional"
        details.append({"Target": {"Attribute": "Properties", "Name": name,
                                   "RequiresRecreation": recreation},
                        "Evaluation": "Static", "ChangeSource": "DirectModification"})
    return verdict, details


def missing_required(type_name: str, logical_id: str, props: dict) -> str | None:
    """AWS's reason for a resource lacking a required property, or None."""
    found = schema(type_name)
    missing = [n for n in (found.required if found else ()) if props.get(n) is None]
    if not missing:
        return None
    return (f"Properties validation failed for resource {logical_id} with message:\n"
            + "\n".join(f"#: required key [{n}] not found" for n in missing))
