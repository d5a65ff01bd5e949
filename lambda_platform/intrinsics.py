"""CloudFormation intrinsics in the template's values, resolved with what the caller knows.

A synthesized template cannot know a secret's ARN or an instance's private IP: those exist only once the
stack is deployed. Whoever deployed it (the rehearsal, into moto) passes them in::

    Intrinsics(refs={"SecretsRedisPassword3A621B46": "arn:aws:secretsmanager:..."},
               attributes={"MetadataStoreInstanceF109877B.PrivateIp": "127.0.0.1"})

Pseudo parameters (``AWS::Region``, ``AWS::AccountId``, ...) come from the platform's region and account.
``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub`` and ``Fn::Select`` are evaluated; anything else, or a
reference nobody gave a value for, raises :class:`UnresolvedIntrinsic`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
EVALUATORS = {
    "Ref": "_ref",
    "Fn::GetAtt": "_fn_getatt",
    "Fn::Join": "_fn_join",
    "Fn::Select": "_fn_select",
    "Fn::Sub": "_fn_sub",
}


class UnresolvedIntrinsic(Exception):
    """A value depends on something only a deployment knows, and the caller did not provide it."""


@dataclass(frozen=True)
class Intrinsics:
    refs: Mapping[str, str] = field(default_factory=dict)  # logical id -> what Ref returns
    attributes: Mapping[str, str] = field(default_factory=dict)  # "LogicalId.Attribute" -> value
    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "WukongStack"
    partition: str = "aws"

    def pseudo_parameters(self) -> dict[str, str]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }

    def with_refs(self, refs: Mapping[str, str]) -> Intrinsics:
        """These refs where the caller gave none (the platform knows its own functions' names)."""
        return replace(self, refs={**refs, **self.refs})

    def resolve(self, value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, dict) and len(value) == 1:
            ((name, argument),) = value.items()
            if name in EVALUATORS:
                return getattr(self, EVALUATORS[name])(argument)
        raise UnresolvedIntrinsic(f"cannot evaluate {json.dumps(value)}")

    def _ref(self, name: str) -> str:
        known = {**self.pseudo_parameters(), **self.refs}
        if name not in known:
            raise UnresolvedIntrinsic(f"Ref {name} (give it in Intrinsics.refs)")
        return known[name]

    def _fn_getatt(self, argument) -> str:
        key = ".".join(argument) if isinstance(argument, list) else str(argument)
        if key not in self.attributes:
            raise UnresolvedIntrinsic(f"Fn::GetAtt {key} (give it in Intrinsics.attributes)")
        return self.attributes[key]

    def _fn_join(self, argument) -> str:
        separator, parts = argument
        return separator.join(self.resolve(part) for part in parts)

    def _fn_select(self, argument) -> str:
        index, items = argument
        if isinstance(items, dict):
            raise UnresolvedIntrinsic(f"Fn::Select over {json.dumps(items)}")
        return self.resolve(items[int(index)])

    def _fn_sub(self, argument) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def substitute(match: re.Match) -> str:
            name = match[1]
            if name in variables:
                return self.resolve(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self._fn_getatt(name.split(".", 1))
            return self._ref(name)

        return SUB_VARIABLE.sub(substitute, text)
