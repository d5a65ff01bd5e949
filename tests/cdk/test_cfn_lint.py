"""cfn-lint on the synthesized template: clean, apart from the checks listed (with why) in IGNORED_CHECKS."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint

# Keep in step with docs/infrastructure.md ("cfn-lint").
IGNORED_CHECKS = {
    # CDK writes DependsOn on a Lambda function's role even though Role: Fn::GetAtt already orders them;
    # harmless, and not ours to change.
    "W3005": "DependsOn already enforced by a Ref/GetAtt (CDK's Lambda role dependency)",
}
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture(scope="module", params=[False, True], ids=["deployed", "moto"])
def template_text(request, make_stack) -> str:
    _, stack = make_stack(**{"wukong:moto": request.param})
    return json.dumps(Template.from_stack(stack).to_json())


def findings(text: str, ignored) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=REGIONS, ignore_checks=list(ignored)))
    return [f"{m.rule.id} {m.message} ({'/'.join(str(p) for p in m.path)})" for m in matches]


def test_template_is_lint_clean(template_text):
    assert findings(template_text, IGNORED_CHECKS) == []


def test_lint_runs_and_reports(template_text):
    """The control: with nothing ignored, cfn-lint must report the known W3005 findings."""
    assert any(f.startswith("W3005") for f in findings(template_text, []))
