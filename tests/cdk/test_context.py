"""app.py refuses context values AWS would not take, naming the key and what is allowed (issue 12, item 13)."""

from __future__ import annotations

import re

import pytest
from stack_support import cdk_json_context

from cdk.context import ContextError, settings_from_context

DEFAULTS = cdk_json_context()


def settings(**overrides):
    return settings_from_context({**DEFAULTS, **overrides})


def test_cdk_json_defaults_are_valid():
    fields = settings()
    assert fields["kvs_node_cpu"] == 1024 and fields["lambda_timeout_s"] == 900
    assert "zones" not in fields and fields["ami_id"] == ""


def test_command_line_text_becomes_numbers_and_zone_lists():
    fields = settings(lambdaMemoryMb="10240", kvsNodeCount="3", zones="us-east-1b, us-east-1c")
    assert (fields["lambda_memory_mb"], fields["kvs_node_count"]) == (10240, 3)
    assert fields["zones"] == ("us-east-1b", "us-east-1c")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lambdaMemoryMb": 64}, "lambdaMemoryMb=64: must be from 128 to 10240 MB"),
        ({"lambdaMemoryMb": "lots"}, "lambdaMemoryMb='lots': must be a whole number"),
        ({"lambdaTimeoutS": 901}, "lambdaTimeoutS=901: must be from 1 to 900 s"),
        ({"jobTimeoutS": 30}, "jobTimeoutS=30: must be from 60 to 21600 s"),
        ({"kvsNodeCount": 0}, "kvsNodeCount=0: must be at least 1"),
        (
            {"kvsNodeCpu": 1000},
            "kvsNodeCpu=1000: Fargate takes 256, 512, 1024, 2048, 4096, 8192, 16384 CPU units",
        ),
        (
            {"kvsNodeCpu": 1024, "kvsNodeMemoryMiB": 1024},
            "kvsNodeMemoryMiB=1024: with kvsNodeCpu=1024 Fargate takes 2048 to 8192 MiB in steps of 1024",
        ),
        (
            {"kvsNodeCpu": 256, "kvsNodeMemoryMiB": 4096},
            "kvsNodeMemoryMiB=4096: with kvsNodeCpu=256 Fargate takes 512 to 2048 MiB",
        ),
        ({"zones": "us-east-1a"}, "zones=us-east-1a: needs at least 2 different zones"),
        ({"zones": "us-east-1a,eu-west-1b"}, "zones=us-east-1a,eu-west-1b: all zones must be in one region"),
        ({"zones": "us-east-1a,useast1b"}, "zones: useast1b is not a zone name like us-east-1a"),
        ({"sshCidr": "my laptop"}, "sshCidr='my laptop': must be an address range"),
        ({"mdsInstanceType": "large"}, "mdsInstanceType='large': must be an EC2 instance type"),
        ({"amiId": "al2023"}, "amiId='al2023': must be an AMI id"),
        ({"kvsImage": "redis:7.2-alpine"}, "kvsImage='redis:7.2-alpine': must be pinned by digest"),
    ],
)
def test_a_bad_value_is_refused_with_its_key_and_range(overrides, message):
    with pytest.raises(ContextError, match="context " + re.escape(message)):
        settings(**overrides)


def test_every_fargate_size_the_table_allows_is_accepted():
    from cdk.context import FARGATE_MEMORY_MIB

    for cpu, sizes in FARGATE_MEMORY_MIB.items():
        for memory in sizes:
            assert settings(kvsNodeCpu=cpu, kvsNodeMemoryMiB=memory)["kvs_node_memory_mib"] == memory


def test_the_app_refuses_before_building_anything(make_stack):
    with pytest.raises(ContextError, match="lambdaTimeoutS=3600"):
        make_stack(lambdaTimeoutS=3600)
