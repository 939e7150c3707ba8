"""Template documents: JSON, or YAML with CloudFormation's short-form tags (!Ref, !Sub...)."""

from __future__ import annotations

import json

import yaml

from vpclocal.errors import ServiceError
from vpclocal.services.cloudformation import schemas

# short-form tag -> the long form's key ("!GetAtt a.b" is also split at its first dot)
_FUNCTIONS = ["Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join",
              "Select", "Split", "Sub", "Transform", "And", "Equals", "If", "Not", "Or",
              "Contains", "EachMemberEquals", "EachMemberIn", "RefAll", "ValueOf", "ValueOfAll",
              "Length", "ToJsonString"]


class _Loader(yaml.SafeLoader):
    pass


def _construct(node, loader):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _tag(name: str):
    key = "Ref" if name == "Ref" else ("Condition" if name == "Condition" else f"Fn::{name}")

    def build(loader, node):
        value = _construct(node, loader)
        if name == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {key: value}
    return build


for _name in [*_FUNCTIONS, "Ref", "Condition"]:
    _Loader.add_constructor(f"!{_name}", _tag(_name))
# timestamps and dates stay the strings the author wrote ("2012-10-17" in policies)
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _unique_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ServiceError(f"Template format error: YAML not well-formed. (line "
                               f"{key_node.start_mark.line + 1}, column "
                               f"{key_node.start_mark.column + 1})", code="ValidationError")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.construct_mapping = _unique_mapping


def parse(body: str) -> dict:
    """The template as a dict; ValidationError as CloudFormation words it when malformed."""
    text = body.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            raise ServiceError("Template format error: JSON not well-formed. (line 1, column 1)",
                               code="ValidationError") from None
    else:
        try:
            doc = yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ServiceError(f"Template format error: YAML not well-formed.{where}",
                               code="ValidationError") from None
        except yaml.YAMLError:
            raise ServiceError("Template format error: YAML not well-formed.",
                               code="ValidationError") from None
    if not isinstance(doc, dict):
        raise ServiceError("Template format error: unsupported structure.",
                           code="ValidationError")
    return doc


def check(doc: dict) -> None:
    """The structural checks CloudFormation makes before anything is deployed."""
    allowed = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules",
               "Mappings", "Conditions", "Transform", "Resources", "Outputs", "Globals"}
    unknown = sorted(k for k in doc if k not in allowed)
    if unknown:
        raise ServiceError(f"Template format error: Invalid template property or properties "
                           f"[{', '.join(unknown)}]", code="ValidationError")
    version = doc.get("AWSTemplateFormatVersion")
    if version is not None and str(version) != "2010-09-09":
        raise ServiceError(f"Template format error: '{version}' is not a supported version.",
                           code="ValidationError")
    resources = doc.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise ServiceError("Template format error: At least one Resources member must be "
                           "defined.", code="ValidationError")
    for name, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise ServiceError(f"Template format error: [/Resources/{name}] Every Resources "
                               f"object must contain a Type member.", code="ValidationError")
    unknown = list(dict.fromkeys(r["Type"] for r in resources.values()
                                 if not schemas.known(r["Type"])))
    if unknown:
        raise ServiceError("Template format error: Unrecognized resource types: "
                           f"[{', '.join(unknown)}]", code="ValidationError")
    for section in ("Parameters", "Mappings", "Conditions", "Outputs"):
        if section in doc and not isinstance(doc[section], dict):
            raise ServiceError(f"Template format error: Every {section} member must be an "
                               "object.", code="ValidationError")


def dump(doc: dict) -> str:
    return json.dumps(doc, indent=2)
