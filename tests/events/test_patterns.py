"""The event pattern language, through TestEventPattern: a table of patterns and events, and
the errors of invalid patterns in AWS's words."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

EVENT = {
    "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
    "account": "000000000000", "time": "2024-03-01T10:07:30Z", "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:000000000000:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0", "state": "running", "count": 7, "price": 2.5,
        "flag": True, "nothing": None, "ip": "10.0.3.17", "name": "Billing-Service",
        "tags": ["blue", "prod"], "items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 9}],
        "nested": {"deep": {"value": "x.png"}}, "empty": "",
    },
}

# (pattern, matches EVENT?)
CASES = [
    ({"source": ["aws.ec2"]}, True),
    ({"source": ["aws.s3"]}, False),
    ({"source": ["aws.s3", "aws.ec2"]}, True),
    ({"detail-type": ["EC2 Instance State-change Notification"], "source": ["aws.ec2"]}, True),
    ({"detail": {"state": ["running"]}}, True),
    ({"detail": {"state": ["stopped"]}}, False),
    ({"detail": {"missing": ["x"]}}, False),
    ({"detail": {"count": [7]}}, True),
    ({"detail": {"count": [7.0]}}, True),
    ({"detail": {"count": ["7"]}}, False),
    ({"detail": {"flag": [True]}}, True),
    ({"detail": {"flag": [False]}}, False),
    ({"detail": {"nothing": [None]}}, True),
    ({"detail": {"empty": [""]}}, True),
    ({"detail": {"tags": ["prod"]}}, True),
    ({"detail": {"tags": ["dev"]}}, False),
    ({"detail": {"items": {"sku": ["b-2"]}}}, True),
    ({"detail": {"items": {"qty": [{"numeric": [">", 8]}]}}}, True),
    ({"detail": {"items": {"qty": [{"numeric": [">", 9]}]}}}, False),
    ({"detail": {"nested": {"deep": {"value": [{"suffix": ".png"}]}}}}, True),
    ({"detail": {"state": [{"prefix": "run"}]}}, True),
    ({"detail": {"state": [{"prefix": "stop"}]}}, False),
    ({"detail": {"state": [{"prefix": {"equals-ignore-case": "RUN"}}]}}, True),
    ({"detail": {"name": [{"suffix": "service"}]}}, False),
    ({"detail": {"name": [{"suffix": {"equals-ignore-case": "SERVICE"}}]}}, True),
    ({"detail": {"name": [{"equals-ignore-case": "billing-service"}]}}, True),
    ({"detail": {"name": [{"equals-ignore-case": "billing"}]}}, False),
    ({"detail": {"state": [{"anything-but": "stopped"}]}}, True),
    ({"detail": {"state": [{"anything-but": ["running", "stopped"]}]}}, False),
    ({"detail": {"count": [{"anything-but": [1, 2, 3]}]}}, True),
    ({"detail": {"count": [{"anything-but": 7}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "run"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "stop"}}]}}, True),
    ({"detail": {"name": [{"anything-but": {"suffix": "-Service"}}]}}, False),
    ({"detail": {"name": [{"anything-but": {"equals-ignore-case": ["BILLING-SERVICE"]}}]}},
     False),
    ({"detail": {"name": [{"anything-but": {"wildcard": "Billing-*"}}]}}, False),
    ({"detail": {"name": [{"anything-but": {"wildcard": "Shipping-*"}}]}}, True),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
    ({"detail": {"count": [{"numeric": [">", 5]}]}}, True),
    ({"detail": {"count": [{"numeric": [">=", 7, "<", 8]}]}}, True),
    ({"detail": {"count": [{"numeric": [">", 7]}]}}, False),
    ({"detail": {"count": [{"numeric": ["<=", 7]}]}}, True),
    ({"detail": {"count": [{"numeric": ["=", 7]}]}}, True),
    ({"detail": {"price": [{"numeric": [">", 2, "<=", 2.5]}]}}, True),
    ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    ({"detail": {"state": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"state": [{"exists": False}]}}, False),
    ({"detail": {"nested": [{"exists": True}]}}, False),  # an object is not a leaf
    ({"detail": {"name": [{"wildcard": "Billing-*"}]}}, True),
    ({"detail": {"name": [{"wildcard": "*-Serv?ce"}]}}, False),
    ({"detail": {"name": [{"wildcard": "B*g-S*e"}]}}, True),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
    ({"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}}, False),
    ({"detail": {"state": ["stopped", {"prefix": "ru"}]}}, True),
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"state": ["running"]}}]}, True),
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"state": ["stopped"]}}]}, False),
    ({"source": ["aws.ec2"], "detail": {"$or": [{"count": [{"numeric": [">", 100]}]},
                                                {"flag": [True]}]}}, True),
    ({"source": ["aws.s3"], "detail": {"$or": [{"count": [7]}, {"flag": [True]}]}}, False),
    ({"resources": [{"prefix": "arn:aws:ec2:"}]}, True),
    ({"account": ["000000000000"], "region": ["us-east-1"]}, True),
]


@pytest.mark.parametrize(("pattern", "expected"), CASES,
                         ids=[json.dumps(p, separators=(",", ":"))[:60] for p, _ in CASES])
def test_pattern_matching(events, pattern, expected):
    result = events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(EVENT))
    assert result["Result"] is expected


# (pattern text, AWS's reason, column) - one line each, so line is 1. The column is where
# Jackson stands: past a token, but only past a string's opening quote (its text is read
# later), and past a field name's colon and its value's first character
INVALID = [
    ('{"source": ["aws.health"], "detail": {}}', "Empty objects are not allowed", 40),
    ('["aws.ec2"]', "Filter is not an object", 2),
    ('{"source": "aws.ec2"}', '"source" must be an object or an array', 13),
    ('{"source": []}', "Empty arrays are not allowed", 14),
    ('{"a": [{"foo": 1}]}', "Unrecognized match type foo", 17),
    ('{"a": [{"prefix": 1}]}', "prefix match pattern must be a string", 20),
    ('{"a": [{"suffix": ["x"]}]}', "suffix match pattern must be a string", 20),
    ('{"a": [{"prefix": "x", "suffix": "y"}]}', "Only one key allowed in match expression",
     35),
    ('{"a": [{"numeric": [">", "x"]}]}', "Value of > must be numeric", 27),
    ('{"a": [{"numeric": 5}]}', "Value of numeric must be an array.", 21),
    ('{"a": [{"numeric": ["~", 5]}]}', "Unrecognized numeric range operator: ~", 27),
    ('{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false.", 20),
    ('{"a": [{"anything-but": null}]}',
     "Value of anything-but must be an array or single string/number value.", 29),
    ('{"a": [{"anything-but": ["x", 1]}]}',
     ("Inside anything but list, either all values are number or string, mixed type is not "
      "supported"), 33),
    ('{"a": [{"anything-but": {"exists": true}}]}',
     "Unsupported anything-but pattern: exists", 40),
    ('{"a": [[1]]}', "Match value must be String, number, true, false, or null", 9),
    ('{"$or": [{"a": ["x"]}]}', "There must have at least 2 Objects in $or relationship.", 23),
    ('{"$or": {"a": ["x"]}}', "It must be an Array followed with $or.", 10),
]


@pytest.mark.parametrize(("text", "reason", "column"), INVALID, ids=[t for t, _, _ in INVALID])
def test_invalid_patterns(events, text, reason, column):
    with pytest.raises(ClientError) as info:
        events.test_event_pattern(EventPattern=text, Event=json.dumps(EVENT))
    err = info.value.response["Error"]
    assert err["Code"] == "InvalidEventPatternException"
    assert err["Message"] == (f"Event pattern is not valid. Reason: {reason}\n at [Source: "
                              f'(String)"{text}"; line: 1, column: {column}]')


def test_put_rule_refuses_an_invalid_pattern(events):
    with pytest.raises(ClientError) as info:
        events.put_rule(Name="bad-pattern", EventPattern='{"detail": {}}')
    assert info.value.response["Error"]["Code"] == "InvalidEventPatternException"


def test_test_event_pattern_needs_an_event(events):
    with pytest.raises(ClientError) as info:
        events.test_event_pattern(EventPattern='{"source": ["a"]}', Event='{"source": "a"}')
    assert info.value.response["Error"] == {"Code": "ValidationException",
                                           "Message": "Parameter Event is not valid."}
