"""WukongStack's functions, exactly as synthesized (code asset + built layers), on the Lambda platform.

The platform reads them from the CLI's cdk.out like any template. What only a deployment knows (the MDS
address, the secrets' ARNs, the proxy's address, the failure queue's ARN) is given as the rehearsal's
loopback stand-ins (``rehearsal.functions.loopback_functions``); the rehearsal proper gives what moto
deployed. Whole jobs on the platform are test_platform_jobs.py's; here the executor imports and handles
one invocation.
"""

from __future__ import annotations

import json

import pytest
from platform_support import invoke, lambda_client

from cdk.constants import EXECUTOR_HANDLER
from lambda_platform import (
    LambdaPlatform,
    PlatformSettings,
    TemplateError,
    load_functions,
)
from rehearsal.functions import loopback_functions
from wukong.config import WukongConfig
from wukong.protocol.payload import JobSettings, invocation

pytestmark = pytest.mark.timeout(900)  # the first synth builds the layers

EXECUTOR = "WukongStack-Executor"
DEPLOYMENT_ONLY = (
    "WUKONG_HOST",
    "WUKONG_REDIS_PASSWORD_SECRET_ARN",
    "WUKONG_PROXY_ADDRESS",
    "WUKONG_PROXY_SECRET_ARN",
    "WUKONG_FAILURE_QUEUE_URL",
)


def stand_ins(redis_port: int = 6379, password: str = "") -> dict[str, str]:
    """The deployment's values, for a loopback redis-server as MDS (and KVS: no Fargate nodes here)."""
    return {
        "WUKONG_HOST": f"127.0.0.1:{redis_port}",
        "WUKONG_MDS_PASSWORD": password,
        "WUKONG_REDIS_PASSWORD_SECRET_ARN": "",
        "WUKONG_PROXY_ADDRESS": "",
        "WUKONG_PROXY_SECRET_ARN": "",
        "WUKONG_USE_FARGATE": "false",
        "WUKONG_FAILURE_QUEUE_URL": "",
    }


def test_the_platform_reads_wukong_stacks_functions(synthesized):
    with pytest.raises(TemplateError) as raised:
        load_functions(synthesized)
    for variable in DEPLOYMENT_ONLY:
        assert f"{EXECUTOR}: {variable} = " in str(raised.value)
    assert f"{EXECUTOR}: OnFailure destination = Fn::GetAtt" in str(raised.value)  # the failure queue
    specs = loopback_functions(synthesized, stand_ins())
    assert set(specs) == {EXECUTOR}  # the stack's Node.js custom resource is not a Python function
    executor = specs[EXECUTOR]
    assert executor.handler == EXECUTOR_HANDLER
    assert (executor.runtime, executor.memory_mb, executor.timeout_s) == ("python3.11", 3008, 900.0)
    assert (executor.code_dir / "wukong" / "executor" / "handler.py").is_file()
    assert [
        next((layer / "python").glob(f"{name}-*.dist-info")).name.split("-")[0]
        for layer, name in zip(executor.layer_dirs, ("numpy", "scipy", "dask"), strict=True)
    ] == ["numpy", "scipy", "dask"]
    # The stack's EventInvokeConfig: Lambda's two retries, the job deadline as maximum age, the queue.
    assert (executor.async_config.maximum_retry_attempts, executor.async_config.maximum_event_age_s) == (
        2,
        600,
    )
    assert executor.async_config.on_failure_destination.startswith("arn:aws:sqs:us-east-1:123456789012:")
    assert executor.reserved_concurrency is None  # the account's unreserved pool
    assert executor.environment["WUKONG_AWS_REGION"] == "us-east-1"  # Ref AWS::Region
    assert executor.environment["WUKONG_EXECUTOR_FUNCTION_NAME"] == EXECUTOR


def test_the_packaged_executor_imports_and_handles_an_invocation(
    synthesized, redis_server, runtime_dir, tmp_path
):
    """A RequestResponse for a job that does not exist: the handler imports with only the asset, the
    layers and the runtime directory, connects to the MDS, and answers (cleanly, or with a function error
    of its own, not a runtime's)."""
    port, password = redis_server
    settings = PlatformSettings(logs_dir=tmp_path / "logs")
    platform = LambdaPlatform(
        loopback_functions(synthesized, stand_ins(port, password)), settings, runtime_dir=runtime_dir
    )
    job_settings = JobSettings.from_config(WukongConfig(), use_proxy=False)
    event = invocation("no-such-job", "L0", 0, 0, job_settings)
    with platform:
        response, answer = invoke(lambda_client(platform.url), EXECUTOR, event, LogType="Tail")
        (report,) = platform.reports(EXECUTOR)
    log = "\n".join(path.read_text() for path in (tmp_path / "logs" / EXECUTOR).iterdir())
    assert response["StatusCode"] == 200, log
    if "FunctionError" in response:
        assert not answer["errorType"].startswith(("Runtime.", "Sandbox.")), (answer, log)
    else:
        assert answer["job"] == "no-such-job", (answer, log)
    assert report.init_duration_ms > 0 and report.memory_size_mb == 3008
    print(f"executor on the platform: {json.dumps(answer)[:300]}\n{report.line()}")
