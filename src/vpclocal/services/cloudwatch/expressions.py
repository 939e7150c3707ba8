"""Metric math: arithmetic over other queries' series (GetMetricData and alarms)."""

from __future__ import annotations

import ast
import operator

from vpclocal.errors import ServiceError


def validation(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationError")


OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
             ast.Div: operator.truediv}


def evaluate(qid: str, expression: str, series: dict[str, dict[int, float]]):
    """`m1 + m2`, `errors / invocations * 100`: time series combined where their timestamps
    meet, numbers applied to every point. Functions (METRICS(), SUM(...)) are not supported."""
    def unsupported() -> ServiceError:
        return validation(f"Error in expression {qid}: vpclocal supports only arithmetic "
                          f"(+ - * /) over query ids and numbers, not '{expression}'.")
    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        raise unsupported() from None

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in series:
                raise validation(f"Error in expression {qid}: Unrecognized metric or "
                                 f"expression id: {node.id}")
            return series[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return _combine(operator.sub, 0.0, value(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return _combine(OPERATORS[type(node.op)], value(node.left), value(node.right))
        raise unsupported()
    result = value(tree)
    if isinstance(result, float):
        raise unsupported()  # a constant has no timestamps to report at
    return result


def _combine(op, left, right):
    def apply(a: float, b: float) -> float | None:
        try:
            return op(a, b)
        except ZeroDivisionError:
            return None  # AWS drops points it cannot compute
    if isinstance(left, float) and isinstance(right, float):
        return op(left, right)
    if isinstance(left, float):
        out = {t: apply(left, v) for t, v in right.items()}
    elif isinstance(right, float):
        out = {t: apply(v, right) for t, v in left.items()}
    else:
        out = {t: apply(v, right[t]) for t, v in left.items() if t in right}
    return {t: v for t, v in out.items() if v is not None}
