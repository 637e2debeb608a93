"""`when:` conditions: a tiny, safe expression language over parameters and earlier results.

    params.relocation
    not params.relocation
    steps.verificar-gabinete.status == 'successful' and params.motivo != 'prueba'

Names are `params.<name>` and `steps.<step id>.status`; literals are strings, numbers, true/false;
operators are `and`, `or`, `not`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`. Nothing else parses.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Mapping
from typing import Any

from agent.errors import ExprError

_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
        ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
# step ids contain '-', which Python reads as minus: `steps.<id>.status` is rewritten to a call first
_STEP_REF = re.compile(r"steps\.([A-Za-z0-9_-]+)\.status")




def parse(text: str) -> ast.Expression:
    """Parse a condition; raise ExprError if it uses anything outside the language."""
    source = _STEP_REF.sub(lambda m: f"__step__({m.group(1)!r})", text.replace("true", "True").replace("false", "False"))
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ExprError(f"cannot parse condition {text!r}: {err.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare,
                                 ast.Constant, ast.Attribute, ast.Name, ast.Load, ast.Call, ast.List, ast.Tuple,
                                 *_CMP)):
            raise ExprError(f"condition {text!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id == "__step__"):
            raise ExprError(f"condition {text!r}: calls are not allowed")
        if isinstance(node, ast.Name) and node.id not in ("params", "__step__", "True", "False"):
            raise ExprError(f"condition {text!r}: unknown name {node.id!r} (use params.<name> or steps.<id>.status)")
    return tree


def step_refs(text: str) -> list[str]:
    """Return the step ids a condition mentions."""
    return _STEP_REF.findall(text)


def evaluate(text: str, params: Mapping[str, Any], step_status: Mapping[str, str]) -> bool:
    """Evaluate a condition against parameters and step statuses."""
    return bool(_eval(parse(text).body, params, step_status, text))


def _eval(node: ast.AST, params, steps, text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "params":
        if node.attr not in params:
            raise ExprError(f"condition {text!r}: unknown parameter {node.attr!r}")
        return params[node.attr]
    if isinstance(node, ast.Call):
        return steps.get(node.args[0].value, "pending")
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, params, steps, text) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        return not _eval(node.operand, params, steps, text)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, params, steps, text)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, params, steps, text)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, params, steps, text) for e in node.elts]
    if isinstance(node, ast.Name) and node.id in ("True", "False"):
        return node.id == "True"
    raise ExprError(f"condition {text!r}: cannot evaluate {ast.dump(node)}")
