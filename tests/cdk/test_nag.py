"""cdk-nag (2.x, AwsSolutions pack): no finding is left unacknowledged, and every acknowledgement has a reason."""

from __future__ import annotations

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

NAG_FINDING = Match.string_like_regexp("AwsSolutions-.*")
MIN_REASON_CHARS = 40  # cdk-nag itself only asks for 10; a reason says why, not just "ok"


@pytest.fixture(scope="module", params=[False, True], ids=["deployed", "moto"])
def synthesized(request, make_stack):
    _, stack = make_stack(**{"wukong:moto": request.param})
    # Both calls synthesize the app (running the nag aspect). Annotations first: a second synthesis runs
    # CDK's own IMDSv2 aspect again on instances it already converted, and that warns, which a single
    # `cdk synth` never does.
    annotations = Annotations.from_stack(stack)
    return annotations, Template.from_stack(stack)


@pytest.fixture(scope="module")
def annotations(synthesized) -> Annotations:
    return synthesized[0]


def messages(found) -> list[str]:
    return [f"{m.id}: {m.entry.data}" for m in found]


def test_no_unacknowledged_nag_errors(annotations):
    assert messages(annotations.find_error("*", NAG_FINDING)) == []


def test_no_unacknowledged_nag_warnings(annotations):
    assert messages(annotations.find_warning("*", NAG_FINDING)) == []


def test_no_other_warnings_or_errors(annotations):
    assert messages(annotations.find_error("*", Match.any_value())) == []
    assert messages(annotations.find_warning("*", Match.any_value())) == []


def test_every_acknowledgement_carries_a_reason(synthesized):
    template = synthesized[1].to_json()
    acknowledged = [
        rule
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert acknowledged, "expected the documented acknowledgements in the template metadata"
    short = [
        (rule["id"], rule.get("reason", ""))
        for rule in acknowledged
        if len(rule.get("reason", "")) < MIN_REASON_CHARS
    ]
    assert short == []


def test_the_checks_report_an_unacknowledged_finding():
    """The control: the same checks on a secret without rotation must produce an error annotation."""
    app = App()
    stack = Stack(app, "Control")
    secretsmanager.Secret(stack, "Unrotated")
    Aspects.of(app).add(AwsSolutionsChecks())
    Template.from_stack(stack)
    found = messages(
        Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-SMG4.*"))
    )
    assert len(found) == 1
