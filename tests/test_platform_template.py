"""The Lambda platform reads its functions from a synthesized template (no processes start here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from platform_support import STACK, write_stack

from lambda_platform import AsyncConfig, Intrinsics, TemplateError, load_functions
from lambda_platform.names import parse_function_name

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:failed"


def test_functions_are_read_from_the_template(tmp_path):
    cdk_out = write_stack(
        tmp_path,
        {
            "configured": {
                "memory": 512,
                "timeout": 7,
                "environment": {"GREETING": "hello"},
                "retries": 1,
                "max_age_s": 90,
                "on_failure": QUEUE_ARN,
            }
        },
    )
    (spec,) = load_functions(cdk_out, STACK).values()
    assert (spec.name, spec.handler, spec.runtime, spec.python_version) == (
        "configured",
        "handlers.handler",
        "python3.11",
        "3.11",
    )
    assert (spec.memory_mb, spec.timeout_s) == (512, 7.0)
    assert spec.environment["GREETING"] == "hello"
    assert spec.code_dir == cdk_out / "asset.code" and (spec.code_dir / "handlers.py").is_file()
    assert spec.layer_dirs == (cdk_out / "asset.layer",)
    assert spec.async_config == AsyncConfig(
        maximum_retry_attempts=1, maximum_event_age_s=90, on_failure_destination=QUEUE_ARN
    )


def test_lambdas_defaults_where_the_template_sets_nothing(tmp_path):
    (spec,) = load_functions(write_stack(tmp_path, {"plain": {}}), STACK).values()
    assert (spec.memory_mb, spec.timeout_s) == (128, 3.0)
    assert spec.async_config == AsyncConfig(
        maximum_retry_attempts=2, maximum_event_age_s=6 * 3600, on_failure_destination=""
    )


def test_assets_are_found_by_s3_key_without_metadata(tmp_path):
    cdk_out = write_stack(tmp_path, {"plain": {}})
    template_file = cdk_out / f"{STACK}.template.json"
    template = json.loads(template_file.read_text())
    function = template["Resources"]["plainFunction"]
    del function["Metadata"]
    function["Properties"]["Code"] = {"S3Bucket": "b", "S3Key": "abc123.zip"}
    template_file.write_text(json.dumps(template))
    manifest = {"files": {"abc123": {"source": {"path": "asset.code", "packaging": "zip"}}}}
    (cdk_out / f"{STACK}.assets.json").write_text(json.dumps(manifest))
    assert load_functions(cdk_out, STACK)["plain"].code_dir == cdk_out / "asset.code"


INTRINSIC_ENVIRONMENT = {
    "MDS_HOST": {"Fn::Join": ["", [{"Fn::GetAtt": ["Mds", "PrivateIp"]}, ":6379"]]},
    "SECRET_ARN": {"Ref": "Secret"},
    "REGION": {"Ref": "AWS::Region"},
    "QUEUE": {"Fn::Sub": "https://sqs.${AWS::Region}.amazonaws.com/${AWS::AccountId}/${Queue.QueueName}"},
}


def test_intrinsics_nobody_resolved_are_named(tmp_path):
    cdk_out = write_stack(tmp_path, {"intrinsic": {"environment": INTRINSIC_ENVIRONMENT}})
    with pytest.raises(TemplateError) as raised:
        load_functions(cdk_out, STACK)
    message = str(raised.value)
    for name in (
        "MDS_HOST = Fn::GetAtt Mds.PrivateIp",
        "SECRET_ARN = Ref Secret",
        "QUEUE = Fn::GetAtt Queue.QueueName",
    ):
        assert f"intrinsic: {name}" in message
    assert "REGION" not in message  # a pseudo parameter: the platform's region


def test_intrinsics_are_resolved_with_what_the_deployment_knows(tmp_path):
    cdk_out = write_stack(tmp_path, {"intrinsic": {"environment": INTRINSIC_ENVIRONMENT}})
    intrinsics = Intrinsics(
        refs={"Secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis"},
        attributes={"Mds.PrivateIp": "10.0.0.5"},
        region="eu-west-1",
    )
    specs = load_functions(
        cdk_out,
        STACK,
        intrinsics=intrinsics,
        environment={"QUEUE": "overridden"},
        function_environment={"intrinsic": {"EXTRA": "1"}},
    )
    environment = specs["intrinsic"].environment
    assert environment["MDS_HOST"] == "10.0.0.5:6379"
    assert environment["SECRET_ARN"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis"
    assert environment["REGION"] == "eu-west-1"
    assert (environment["QUEUE"], environment["EXTRA"]) == ("overridden", "1")


def test_a_missing_template_says_to_synthesize(tmp_path):
    with pytest.raises(TemplateError, match="cdk synth"):
        load_functions(tmp_path, STACK)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("my-function", ("my-function", "", "", "")),
        ("my-function:$LATEST", ("my-function", "$LATEST", "", "")),
        ("123456789012:function:my-function", ("my-function", "", "", "123456789012")),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:my-function:7",
            ("my-function", "7", "us-east-1", "123456789012"),
        ),
    ],
)
def test_function_names_partial_and_full_arns(text, expected):
    parsed = parse_function_name(text)
    assert (parsed.name, parsed.qualifier, parsed.region, parsed.account) == expected


def test_a_malformed_function_name_is_refused():
    assert parse_function_name("not a name!") is None


def test_paths_are_absolute_whatever_the_cdk_out_given(tmp_path, monkeypatch):
    """Environments run in their code directory: a relative path would point nowhere there."""
    write_stack(tmp_path, {"plain": {}})
    monkeypatch.chdir(tmp_path)
    spec = load_functions(Path("cdk.out"), STACK)["plain"]
    assert spec.code_dir.is_absolute() and all(layer.is_absolute() for layer in spec.layer_dirs)
