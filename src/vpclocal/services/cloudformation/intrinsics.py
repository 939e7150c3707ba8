"""The template language's intrinsic functions, pseudo parameters and conditions.

`Evaluator.resolve` turns a template fragment into plain values. What a function needs from the
stack (a resource's Ref or attributes, an export) comes through the evaluator's callbacks, so
the same code validates a template, plans its dependencies and deploys it.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from vpclocal.errors import ServiceError

NO_VALUE = object()  # AWS::NoValue: the property (or list item) is removed
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
FUNCTIONS = {"Ref", "Condition", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split",
             "Fn::GetAZs", "Fn::If", "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not",
             "Fn::FindInMap", "Fn::ImportValue", "Fn::Base64", "Fn::Cidr", "Fn::Length",
             "Fn::ToJsonString"}


def template_error(message: str) -> ServiceError:
    return ServiceError(f"Template error: {message}", code="ValidationError")


def format_error(message: str) -> ServiceError:
    return ServiceError(f"Template format error: {message}", code="ValidationError")


def pseudo_parameters(region: str, account: str, stack_name: str, stack_id: str) -> dict:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    partition = ("aws-cn" if region.startswith("cn-")
                 else "aws-us-gov" if region.startswith("us-gov-") else "aws")
    return {"AWS::Region": region, "AWS::AccountId": account, "AWS::StackName": stack_name,
            "AWS::StackId": stack_id, "AWS::Partition": partition, "AWS::URLSuffix": suffix,
            "AWS::NotificationARNs": [], "AWS::NoValue": NO_VALUE}


def references(value, resources: set[str]) -> set[str]:
    """The resources a fragment depends on (Ref, Fn::GetAtt and Fn::Sub names)."""
    found: set[str] = set()

    def walk(v):
        if isinstance(v, list):
            for item in v:
                walk(item)
        elif isinstance(v, dict):
            if len(v) == 1:
                (key, arg), = v.items()
                if key == "Ref" and isinstance(arg, str) and arg in resources:
                    found.add(arg)
                elif key == "Fn::GetAtt":
                    name = _getatt_args(arg)[0] if _getatt_ok(arg) else None
                    if name in resources:
                        found.add(name)
                elif key == "Fn::Sub":
                    text, names = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 \
                        else (arg, {})
                    if isinstance(text, str):
                        for var in _SUB_VAR.findall(text):
                            head = var.split(".", 1)[0]
                            if not var.startswith("!") and head in resources and \
                                    head not in (names if isinstance(names, dict) else {}):
                                found.add(head)
            for item in v.values():
                walk(item)

    walk(value)
    return found


def _getatt_ok(arg) -> bool:
    if isinstance(arg, str):
        return "." in arg
    return isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)


def _getatt_args(arg) -> tuple[str, object]:
    if isinstance(arg, str):
        name, _, attr = arg.partition(".")
        return name, attr
    return arg[0], arg[1]


@dataclass
class Evaluator:
    parameters: dict  # parameter and pseudo parameter values
    mappings: dict = field(default_factory=dict)
    conditions: dict = field(default_factory=dict)  # name -> bool, once evaluated
    condition_defs: dict = field(default_factory=dict)
    ref: Callable[[str], object] | None = None  # a resource's Ref value
    getatt: Callable[[str, str], object] | None = None
    import_value: Callable[[str], object] | None = None
    zones: Callable[[str], list[str]] = lambda region: []
    resources: set = field(default_factory=set)

    # ---- conditions ---------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            if name not in self.condition_defs:
                raise template_error(f"unresolved condition dependency {name} in Fn::If")
            self.conditions[name] = None  # in progress: a cycle
            result = self.resolve(self.condition_defs[name])
            if not isinstance(result, bool):
                raise format_error(f"Conditions can only be boolean operations on parameters "
                                   f"and other conditions: {name}")
            self.conditions[name] = result
        elif self.conditions[name] is None:
            raise format_error(f"Circular dependency between conditions: [{name}]")
        return self.conditions[name]

    # ---- values ---------------------------------------------------------------------------

    def resolve(self, value):
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key in FUNCTIONS and (key != "Condition" or isinstance(arg, str)):
                return getattr(self, "_" + key.replace("Fn::", "").lower())(arg)
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def _ref(self, name):
        if not isinstance(name, str):
            raise template_error("Ref must reference a valid resource, parameter or pseudo "
                                 "parameter")
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources and self.ref is not None:
            return self.ref(name)
        raise format_error(f"Unresolved resource dependencies [{name}] in the Resources block "
                           "of the template")

    def _condition(self, name):
        return self.condition(name)

    def _getatt(self, arg):
        if not _getatt_ok(arg):
            raise template_error("every Fn::GetAtt object requires two non-empty parameters")
        name, attr = _getatt_args(arg)
        attr = self.resolve(attr)
        if name not in self.resources:
            raise template_error(f"instance of Fn::GetAtt references undefined resource {name}")
        return self.getatt(name, str(attr)) if self.getatt else None

    def _sub(self, arg):
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text, names = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        elif isinstance(arg, str):
            text, names = arg, {}
        else:
            raise template_error("One or more Fn::Sub intrinsic functions don't specify "
                                 "expected arguments. Specify a string as first argument, and "
                                 "an optional second argument to specify a mapping of values "
                                 "to replace in the string")
        if not isinstance(text, str):
            text = self.resolve(text)

        def replace(match):
            var = match.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            if var in names:
                value = names[var]
            elif "." in var and var.split(".", 1)[0] in self.resources:
                value = self._getatt(var.split(".", 1))
            else:
                value = self._ref(var)
            return _text(value)

        return _SUB_VAR.sub(replace, text)

    def _join(self, arg):
        if not (isinstance(arg, list) and len(arg) == 2):
            raise template_error("every Fn::Join object requires two parameters, (1) a string "
                                 "delimiter and (2) a list of strings to be joined or a function "
                                 "that returns a list of strings (such as Fn::GetAZs) to be "
                                 "joined.")
        sep, items = arg[0], self.resolve(arg[1])
        if not isinstance(items, list):
            raise template_error("every Fn::Join object requires two parameters, (1) a string "
                                 "delimiter and (2) a list of strings to be joined or a function "
                                 "that returns a list of strings (such as Fn::GetAZs) to be "
                                 "joined.")
        return str(sep).join(_text(v) for v in items)

    def _select(self, arg):
        if not (isinstance(arg, list) and len(arg) == 2):
            raise template_error("Fn::Select requires a list argument with two elements: an "
                                 "integer index and a list")
        index, items = self.resolve(arg[0]), self.resolve(arg[1])
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise template_error("Fn::Select requires a list argument with two elements: an "
                                 "integer index and a list") from None
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise template_error(f"Fn::Select cannot select nonexistent value at index {index}")
        return items[index]

    def _split(self, arg):
        if not (isinstance(arg, list) and len(arg) == 2):
            raise template_error("every Fn::Split object requires two parameters, (1) a string "
                                 "delimiter and (2) a string to be split or a function that "
                                 "returns a string to be split.")
        return str(self.resolve(arg[1])).split(str(arg[0]))

    def _getazs(self, arg):
        region = self.resolve(arg) or self.parameters["AWS::Region"]
        return list(self.zones(region))

    def _if(self, arg):
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise template_error("Fn::If requires a list argument with three elements")
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _equals(self, arg):
        if not (isinstance(arg, list) and len(arg) == 2):
            raise template_error("Fn::Equals requires a list argument with two elements")
        a, b = (self.resolve(v) for v in arg)
        return _text(a) == _text(b) if not isinstance(a, list | dict) else a == b

    def _bools(self, name, arg, low=2):
        if not (isinstance(arg, list) and low <= len(arg) <= 10):
            raise template_error(f"Fn::{name} requires a list argument with "
                                 f"{'two to ten' if low == 2 else 'one'} elements")
        values = [self.resolve(v) for v in arg]
        if not all(isinstance(v, bool) for v in values):
            raise template_error(f"Fn::{name} requires boolean arguments")
        return values

    def _and(self, arg):
        return all(self._bools("And", arg))

    def _or(self, arg):
        return any(self._bools("Or", arg))

    def _not(self, arg):
        if not (isinstance(arg, list) and len(arg) == 1):
            raise template_error("Fn::Not requires a list argument with one element")
        return not self._bools("Not", arg, low=1)[0]

    def _findinmap(self, arg):
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise template_error("every Fn::FindInMap object requires three parameters, the "
                                 "map name, map key and the attribute for return value")
        name, key, attr = (self.resolve(v) for v in arg[:3])
        mapping = self.mappings.get(name)
        if mapping is None:
            raise template_error(f"Unable to get mapping for {name}::{key}::{attr}")
        try:
            return mapping[key][attr]
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise template_error(f"Unable to get mapping for {name}::{key}::{attr}") from None

    def _importvalue(self, arg):
        name = self.resolve(arg)
        if self.import_value is None:
            return None
        return self.import_value(str(name))

    def _base64(self, arg):
        return base64.b64encode(_text(self.resolve(arg)).encode()).decode()

    def _cidr(self, arg):
        if not (isinstance(arg, list) and len(arg) == 3):
            raise template_error("Fn::Cidr requires a list argument with three elements: an "
                                 "ipBlock, a count and cidrBits")
        block, count, bits = (self.resolve(v) for v in arg)
        try:
            network = ipaddress.ip_network(str(block), strict=False)
            count, bits = int(count), int(bits)
            prefix = network.max_prefixlen - bits
            subnets = network.subnets(new_prefix=prefix)
            out = []
            for subnet in subnets:
                if len(out) == count:
                    break
                out.append(str(subnet))
        except (ValueError, TypeError):
            raise template_error("Fn::Cidr requires a valid ipBlock, count and cidrBits") \
                from None
        if len(out) < count or not 1 <= count <= 256:
            raise template_error(f"Fn::Cidr cannot carve {count} subnets of /{prefix} "
                                 f"out of {block}")
        return out

    def _length(self, arg):
        value = self.resolve(arg)
        if not isinstance(value, list):
            raise template_error("Fn::Length requires a list")
        return len(value)

    def _tojsonstring(self, arg):
        return json.dumps(self.resolve(arg), separators=(",", ":"))


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if value is None:
        return ""
    return str(value)
