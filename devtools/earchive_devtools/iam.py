"""A function's IAM statements as template.yaml deploys them, and whether they allow a request (development only).

The local cloud answers S3 reads as S3 would for the calling function's role (``localcloud._s3_answers_as_iam``): moto
enforces no IAM, and S3's answer to a read depends on it (403 or 404, issue 22 F10). Only what the template's function
policies use is modelled: Allow and Deny, action and resource wildcards, the SAM policy templates the allow-list admits,
and string conditions, which match only when their key is in the request (``…IfExists`` also when it is not).
"""

from __future__ import annotations

import fnmatch
from typing import Any

# The SAM policy templates docs/iam-allowlist.yaml admits, as SAM expands them (resources as ARN suffixes of the parameter).
SAM_TEMPLATES: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "S3ReadPolicy": (("s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObjectVersion", "s3:GetLifecycleConfiguration"),
                     "BucketName", ("arn:{partition}:s3:::{}", "arn:{partition}:s3:::{}/*")),
    "DynamoDBReadPolicy": (("dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"),
                           "TableName", ("arn:{partition}:dynamodb:{region}:{account}:table/{}",
                                         "arn:{partition}:dynamodb:{region}:{account}:table/{}/index/*")),
    "LambdaInvokePolicy": (("lambda:InvokeFunction",), "FunctionName",
                           ("arn:{partition}:lambda:{region}:{account}:function:{}", "arn:{partition}:lambda:{region}:{account}:function:{}:*")),
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(template: dict[str, Any], resolver: Any, logical: str) -> list[dict[str, Any]]:
    """The resource's statements (its own, its managed policies', its SAM templates'), resources resolved as deployed."""
    params = getattr(resolver, "params", {})
    partition, region, account = (params.get(k, d) for k, d in (("AWS::Partition", "aws"), ("AWS::Region", "us-east-1"),
                                                                 ("AWS::AccountId", "123456789012")))
    raw: list[dict[str, Any]] = []
    for item in template["Resources"][logical].get("Properties", {}).get("Policies") or []:
        if isinstance(item, dict) and "Ref" in item:
            raw += template["Resources"][item["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
        elif isinstance(item, dict) and "Statement" in item:
            raw += item["Statement"]
        elif isinstance(item, dict) and len(item) == 1 and next(iter(item)) in SAM_TEMPLATES:
            name, params = next(iter(item.items()))
            actions, param, patterns = SAM_TEMPLATES[name]
            value = resolver.value(params)[param]
            raw.append({"Effect": "Allow", "Action": list(actions),
                        "Resource": [p.format(value, partition=partition, region=region, account=account) for p in patterns]})
    out = []
    for st in raw:
        out.append({"Effect": st.get("Effect", "Allow"), "Action": _listed(st["Action"]),
                    "Resource": [str(r) for r in _listed(resolver.value(st["Resource"]))],
                    "Condition": resolver.value(st["Condition"]) if st.get("Condition") else None})
    return out


def _condition_holds(condition: dict[str, Any] | None, context: dict[str, str]) -> bool:
    """Every operator of the block holds; a key missing from the request fails it, unless the operator ends in IfExists."""
    for operator, pairs in (condition or {}).items():
        base, if_exists = (operator[:-8], True) if operator.endswith("IfExists") else (operator, False)
        for key, wanted in pairs.items():
            if key not in context:
                if if_exists:
                    continue
                return False
            patterns = [str(w) for w in _listed(wanted)]
            if base == "StringLike":
                ok = any(fnmatch.fnmatchcase(context[key], p) for p in patterns)
            elif base == "StringEquals":
                ok = context[key] in patterns
            else:  # an operator not modelled here never grants
                return False
            if not ok:
                return False
    return True


def allows(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """IAM's answer for one request: an explicit Deny wins, else some Allow must match action, resource and condition."""
    context = context or {}

    def matches(st: dict[str, Any]) -> bool:
        return (any(fnmatch.fnmatchcase(action, a) for a in st["Action"])
                and any(fnmatch.fnmatchcase(resource, r) for r in st["Resource"])
                and _condition_holds(st.get("Condition"), context))

    if any(st["Effect"] == "Deny" and matches(st) for st in statements):
        return False
    return any(st["Effect"] == "Allow" and matches(st) for st in statements)
