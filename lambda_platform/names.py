"""FunctionName as Invoke takes it: a name, a partial ARN or a full ARN, each with an optional qualifier.

my-function                                          my-function:$LATEST
123456789012:function:my-function                    (partial ARN)
arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FUNCTION_NAME = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)
LATEST = "$LATEST"


@dataclass(frozen=True)
class FunctionName:
    name: str
    qualifier: str = ""  # "" = unqualified ($LATEST)
    region: str = ""  # "" = not given
    account: str = ""


def parse_function_name(text: str) -> FunctionName | None:
    """None when ``text`` matches none of the forms."""
    match = FUNCTION_NAME.match(text)
    if match is None:
        return None
    return FunctionName(
        match["name"], match["qualifier"] or "", match["region"] or "", match["account"] or ""
    )


def function_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"
