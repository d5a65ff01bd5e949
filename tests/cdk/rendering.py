"""CloudFormation values as the text they become on deploy, with placeholders for what only AWS knows.

``render`` turns a template value (Fn::Join, Fn::Base64, Fn::Sub, Ref, Fn::GetAtt) into a string: pseudo
parameters get plausible values (us-east-1, WukongStack, 123456789012) and references to the stack's own
resources a word that is valid in a shell script (``ref-secretsredispassword3a621b46``, an IP address
for ``PrivateIp``), so that the rendered user data can be checked as the script an instance would run.
"""

from __future__ import annotations

import re

PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::StackName": "WukongStack",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
PLACEHOLDER_IP = "10.0.0.10"


def render(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    if isinstance(value, list):
        return "".join(render(v) for v in value)
    (function, argument), *rest = value.items()
    if rest:
        raise ValueError(f"not an intrinsic function: {value!r}")
    if function == "Fn::Join":
        separator, parts = argument
        return separator.join(render(p) for p in parts)
    if function == "Fn::Base64":
        return render(argument)
    if function == "Ref":
        return PSEUDO_PARAMETERS.get(argument, f"ref-{argument.lower()}")
    if function == "Fn::GetAtt":
        resource, attribute = argument
        return PLACEHOLDER_IP if attribute == "PrivateIp" else f"getatt-{resource}-{attribute}".lower()
    if function == "Fn::Sub" and isinstance(argument, str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: render({"Ref": m.group(1)}), argument)
    raise ValueError(f"cannot render {function} (add it to tests/cdk/rendering.py)")


def user_data_scripts(template: dict) -> dict[str, str]:
    """{logical id: the rendered user data} of every instance (and launch template) that has one."""
    scripts = {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::EC2::Instance" and "UserData" in properties:
            scripts[logical_id] = render(properties["UserData"])
        data = properties.get("LaunchTemplateData", {})
        if resource["Type"] == "AWS::EC2::LaunchTemplate" and "UserData" in data:
            scripts[logical_id] = render(data["UserData"])
    return scripts
