"""Small test functions for the Lambda platform's tests, packaged as ``cdk synth`` would package them.

:func:`write_stack` writes a cloud assembly into a directory: ``TestStack.template.json`` with one
``AWS::Lambda::Function`` per entry (all running ``handlers.handler`` from one code asset, with one
layer), an ``AWS::Lambda::EventInvokeConfig`` where retries, age or a destination are given, and the
asset directories named by ``aws:asset:path`` metadata. The handler does what the event says::

    {"action": "return"}                       {"action": "raise", "message": "boom"}
    {"action": "exit", "code": 3}              {"action": "signal", "signal": 11}
    {"action": "sleep", "seconds": 2}          {"action": "allocate", "mb": 300, "hold_s": 1}
    {"action": "print", "text": "hello"}       {"action": "describe"}  (its environment, path, pid)
    {"action": "background", "file": "/tmp/x"}  starts a thread that appends to the file every 10 ms
    {"action": "fail", "times": 2, "how": "raise"}   fails the first 2 deliveries of a request id

Every invocation appends ``{"request_id", "pid", "event"}`` to ``$TEST_RECORD_FILE`` first, so tests
see each delivery and attempt.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import boto3
from botocore.config import Config

from lambda_platform import LambdaPlatform, PlatformSettings

STACK = "TestStack"
REGION = "us-east-1"

HANDLERS = r"""
import json, os, signal, sys, threading, time

import layer_helper  # from the layer: the layer is on the path

time.sleep(float(os.environ.get("TEST_INIT_SLEEP_S", "0")))  # init work, timed as Init Duration
if os.environ.get("TEST_INIT_EXIT"):
    os._exit(int(os.environ["TEST_INIT_EXIT"]))  # the process dies while its module is imported
print("init done", flush=True)
MB = 1024 * 1024


def record(event, context):
    line = json.dumps({"request_id": context.aws_request_id, "pid": os.getpid(), "event": event})
    with open(os.environ["TEST_RECORD_FILE"], "a") as records:
        records.write(line + "\n")


def deliveries(request_id):
    with open(os.environ["TEST_RECORD_FILE"]) as records:
        return sum(json.loads(line)["request_id"] == request_id for line in records)


def tick(path):
    while True:
        with open(path, "a") as ticks:
            ticks.write("tick\n")
        time.sleep(0.01)


def fail(how, code=3):
    if how == "raise":
        raise RuntimeError("failing on purpose")
    if how == "exit":
        os._exit(code)
    os.kill(os.getpid(), signal.SIGKILL)


def handler(event, context):
    record(event, context)
    action = event.get("action", "return")
    if action == "raise":
        raise ValueError(event.get("message", "boom"))
    if action == "exit":
        os._exit(event.get("code", 3))
    if action == "signal":
        os.kill(os.getpid(), event.get("signal", signal.SIGSEGV))
        time.sleep(5)
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "allocate":
        block = bytearray(event["mb"] * MB)
        for offset in range(0, len(block), 4096):
            block[offset] = 1  # touch every page: resident, not just reserved
        time.sleep(event.get("hold_s", 0))
    if action == "print":
        print(event["text"])
    if action == "background":  # a thread that goes on after the handler returns
        threading.Thread(target=tick, args=(event["file"],), daemon=True).start()
    if action == "fail" and deliveries(context.aws_request_id) <= event["times"]:
        fail(event.get("how", "raise"))
    if action == "describe":
        return {
            "pid": os.getpid(),
            "environ": dict(os.environ),
            "path": sys.path,
            "cwd": os.getcwd(),
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "layer": layer_helper.NAME,
        }
    return {"pid": os.getpid(), "action": action}
"""


def write_stack(directory: Path, functions: dict[str, dict]) -> Path:
    """A cloud assembly in ``directory``; each function: ``handler``, ``memory``, ``timeout``,
    ``reserved`` (concurrency), ``environment``, ``retries``, ``max_age_s``, ``on_failure`` (all
    optional). Returns the cdk.out."""
    cdk_out = directory / "cdk.out"
    code = cdk_out / "asset.code"
    code.mkdir(parents=True)
    (code / "handlers.py").write_text(HANDLERS)
    layer = cdk_out / "asset.layer" / "python"
    layer.mkdir(parents=True)
    (layer / "layer_helper.py").write_text('NAME = "layer_helper"\n')
    record_file = directory / "records.jsonl"
    record_file.touch()
    resources = {
        "TestLayer": {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {},
            "Metadata": {"aws:asset:path": "asset.layer"},
        }
    }
    for name, options in functions.items():
        logical_id = name.replace("-", "") + "Function"
        properties = {
            "FunctionName": name,
            "Handler": options.get("handler", "handlers.handler"),
            "Runtime": "python3.11",
            "Environment": {
                "Variables": {"TEST_RECORD_FILE": str(record_file), **options.get("environment", {})}
            },
            "Layers": [{"Ref": "TestLayer"}],
        }
        for key, option in (
            ("MemorySize", "memory"),
            ("Timeout", "timeout"),
            ("ReservedConcurrentExecutions", "reserved"),
        ):
            if option in options:
                properties[key] = options[option]
        resources[logical_id] = {
            "Type": "AWS::Lambda::Function",
            "Properties": properties,
            "Metadata": {"aws:asset:path": "asset.code"},
        }
        config = {"FunctionName": {"Ref": logical_id}, "Qualifier": "$LATEST"}
        for key, option in (("MaximumRetryAttempts", "retries"), ("MaximumEventAgeInSeconds", "max_age_s")):
            if option in options:
                config[key] = options[option]
        if "on_failure" in options:
            config["DestinationConfig"] = {"OnFailure": {"Destination": options["on_failure"]}}
        if len(config) > 2:
            resources[logical_id + "EventInvokeConfig"] = {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": config,
            }
    (cdk_out / f"{STACK}.template.json").write_text(json.dumps({"Resources": resources}, indent=1))
    return cdk_out


def records(cdk_out: Path) -> list[dict]:
    text = (cdk_out.parent / "records.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


@contextmanager
def running_platform(cdk_out: Path, runtime_dir: Path, **settings):
    """The platform on ``cdk_out``'s functions; on exit, asserts that none of their processes is left."""
    settings.setdefault("logs_dir", cdk_out.parent / "logs")
    platform = LambdaPlatform.from_cdk_out(
        cdk_out, STACK, settings=PlatformSettings(**settings), runtime_dir=runtime_dir
    )
    try:
        with platform:
            yield platform
    finally:
        assert processes_of(cdk_out) == [], "environment processes left after stop()"


def processes_of(cdk_out: Path) -> list[int]:
    """Processes whose command line names a directory of ``cdk_out`` (every environment's does)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(cdk_out).encode() in command:
                found.append(int(entry.name))
    return found


def lambda_client(url: str, attempts: int = 2):
    """boto3's Lambda client on the platform, dummy credentials, ``attempts`` in all (1: every 429 and
    connection error is seen, none retried)."""
    config = Config(
        retries={"total_max_attempts": attempts, "mode": "standard"},
        read_timeout=120,
        max_pool_connections=50,
    )
    return boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def invoke(client, function: str, event: dict, **kwargs) -> tuple[dict, dict]:
    """(the response metadata, the decoded payload) of a RequestResponse invocation."""
    response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode(), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")
