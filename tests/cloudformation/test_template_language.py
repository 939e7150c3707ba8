"""The template language: short-form YAML tags and intrinsic functions, table-driven."""

from __future__ import annotations

import pytest

from vpclocal.errors import ServiceError
from vpclocal.services.cloudformation import template
from vpclocal.services.cloudformation.intrinsics import Evaluator, pseudo_parameters

PARAMS = {"Env": "prod", "Subnets": ["subnet-1", "subnet-2"], "Size": "3",
          **pseudo_parameters("eu-west-1", "123456789012", "web", "arn:stack/web/1")}
MAPPINGS = {"Sizes": {"prod": {"Class": "db.t3.large"}, "dev": {"Class": "db.t3.micro"}}}
CONDITIONS = {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
              "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]}}
RESOURCES = {"Vpc": ("vpc-123", {"CidrBlock": "10.0.0.0/16"})}

CASES = [
    ("!Ref Env", "prod"),
    ("!Ref AWS::Region", "eu-west-1"),
    ("!Ref AWS::AccountId", "123456789012"),
    ("!Ref AWS::StackName", "web"),
    ("!Ref AWS::Partition", "aws"),
    ("!Ref AWS::URLSuffix", "amazonaws.com"),
    ("!Ref Vpc", "vpc-123"),
    ("!GetAtt Vpc.CidrBlock", "10.0.0.0/16"),
    ("{'Fn::GetAtt': [Vpc, CidrBlock]}", "10.0.0.0/16"),
    ("!Sub '${AWS::StackName}-${Env}-${Vpc}'", "web-prod-vpc-123"),
    ("!Sub '${Vpc.CidrBlock} ${!Literal}'", "10.0.0.0/16 ${Literal}"),
    ("!Sub ['${A}-${Env}', {A: x}]", "x-prod"),
    ("!Join [',', [a, b, !Ref Env]]", "a,b,prod"),
    ("!Join ['', !Ref Subnets]", "subnet-1subnet-2"),
    ("!Select [1, !Ref Subnets]", "subnet-2"),
    ("!Select ['0', [x, y]]", "x"),
    ("!Split [',', 'a,b,,c']", ["a", "b", "", "c"]),
    ("!GetAZs ''", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("!Select [0, !GetAZs {Ref: 'AWS::Region'}]", "eu-west-1a"),
    ("!If [IsProd, big, small]", "big"),
    ("!If [IsDev, big, small]", "small"),
    ("[a, !If [IsDev, b, !Ref AWS::NoValue], c]", ["a", "c"]),
    ("{A: 1, B: !If [IsDev, 2, !Ref 'AWS::NoValue']}", {"A": 1}),
    ("!Equals [!Ref Size, 3]", True),
    ("!And [!Condition IsProd, !Not [!Condition IsDev]]", True),
    ("!Or [!Condition IsDev, !Equals [a, b]]", False),
    ("!FindInMap [Sizes, !Ref Env, Class]", "db.t3.large"),
    ("!FindInMap [Sizes, test, Class, {DefaultValue: none}]", "none"),
    ("!Base64 hello", "aGVsbG8="),
    ("!Cidr [10.0.0.0/16, 3, 8]", ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]),
    ("!Cidr ['10.0.0.0/24', 2, 4]", ["10.0.0.0/28", "10.0.0.16/28"]),
    ("!Select [2, !Cidr [!GetAtt Vpc.CidrBlock, 4, 12]]", "10.0.32.0/20"),
    ("!ImportValue shared-vpc", "vpc-shared"),
    ("{Version: '2012-10-17', Statement: []}", {"Version": "2012-10-17", "Statement": []}),
]


def _evaluator() -> Evaluator:
    ev = Evaluator(dict(PARAMS), mappings=MAPPINGS, condition_defs=CONDITIONS,
                   ref=lambda name: RESOURCES[name][0],
                   getatt=lambda name, attr: RESOURCES[name][1][attr],
                   import_value={"shared-vpc": "vpc-shared"}.__getitem__,
                   zones=lambda region: [f"{region}{z}" for z in "abc"],
                   resources=set(RESOURCES))
    return ev


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_intrinsic(text, expected):
    doc = template.parse(f"Resources:\n  R:\n    Type: T\n    Properties:\n      V: {text}\n")
    assert _evaluator().resolve(doc["Resources"]["R"]["Properties"]["V"]) == expected


ERRORS = [
    ("!Select [5, [a]]", "Template error: Fn::Select cannot select nonexistent value at index 5"),
    ("!GetAtt Nope.Arn", ("Template error: instance of Fn::GetAtt references undefined "
                         "resource Nope")),
    ("!Ref Nope", ("Template format error: Unresolved resource dependencies [Nope] in the "
                  "Resources block of the template")),
    ("!FindInMap [Sizes, test, Class]", ("Template error: Unable to get mapping for "
                                        "Sizes::test::Class")),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_intrinsic_errors(text, message):
    doc = template.parse(f"Resources:\n  R:\n    Type: T\n    Properties:\n      V: {text}\n")
    with pytest.raises(ServiceError) as caught:
        _evaluator().resolve(doc["Resources"]["R"]["Properties"]["V"])
    assert caught.value.message == message
    assert caught.value.code == "ValidationError"


def test_json_and_malformed_templates():
    assert template.parse('{"Resources": {"R": {"Type": "T"}}}')["Resources"]["R"]["Type"] == "T"
    with pytest.raises(ServiceError, match="JSON not well-formed"):
        template.parse('{"Resources": ')
    with pytest.raises(ServiceError, match="YAML not well-formed"):
        template.parse("Resources:\n  R: [\n")
    with pytest.raises(ServiceError, match="At least one Resources member must be defined"):
        template.check(template.parse("Description: nothing\n"))
