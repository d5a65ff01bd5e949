"""The runtime settings a deployment hands to its executors (environment) and its scheduler VM (yaml).

Names are the fields of ``wukong.config.WukongConfig`` (see runtime/config.py); the Lambdas get them as
``WUKONG_<FIELD>`` environment variables, the VM as the ``wukong:`` section of /etc/dask/wukong.yaml.
One function makes both, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .constants import PROXY_PORT

ENV_PREFIX = "WUKONG_"
PROXY_ADDRESS_PLACEHOLDER = "__WUKONG_PROXY_ADDRESS__"  # the VM fills in its own private IP at boot

# Settings the stack must provide, non-empty; tests/cdk checks the deployed outputs against this list.
REQUIRED_SETTINGS = (
    "mode",
    "host",
    "redis_password_secret_arn",
    "kvs_service_name",
    "use_fargate",
    "executor_function_name",
    "aws_region",
    "proxy_address",
    "proxy_port",
    "proxy_secret_arn",
    "lambda_memory_mb",
    "failure_queue_url",
    "job_timeout_s",
)


@dataclass(frozen=True)
class DeploymentSettings:
    """Values may be CDK tokens (an instance's private IP, a secret's ARN); they resolve at deploy time."""

    host: str
    redis_password_secret_arn: str
    kvs_service_name: str
    executor_function_name: str
    aws_region: str
    proxy_address: str
    proxy_secret_arn: str
    lambda_memory_mb: int
    failure_queue_url: str  # the executor's on-failure destination, which the client watches
    job_timeout_s: int  # also the executor's maximum event age: an older event belongs to a failed job
    proxy_port: int = PROXY_PORT
    use_fargate: bool = True
    mode: str = "aws"

    def as_config(self) -> dict:
        """The ``wukong:`` section, with real types (yaml booleans and integers)."""
        return {name: asdict(self)[name] for name in REQUIRED_SETTINGS}

    def as_environment(self) -> dict[str, str]:
        """``WUKONG_*`` variables; the runtime's config coerces "true" and "8989" back to their types."""
        return {ENV_PREFIX + name.upper(): _text(value) for name, value in self.as_config().items()}


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
