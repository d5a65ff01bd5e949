"""The functions of a synthesized stack, as the template and its asset metadata describe them.

``cdk synth`` writes ``<cdk.out>/<Stack>.template.json``; each function's and layer's ``Metadata`` names
its asset directory (``aws:asset:path``, relative to cdk.out), else its ``S3Key`` is the asset's hash in
``<Stack>.assets.json``. From each ``AWS::Lambda::Function`` with a Python runtime this reads
``FunctionName`` (else the logical id: CloudFormation would generate one), ``Handler``, ``Runtime``,
``MemorySize``, ``Timeout`` (Lambda's defaults where absent), ``Environment.Variables``, ``Layers`` and
``ReservedConcurrentExecutions``;
from each ``AWS::Lambda::EventInvokeConfig`` for it, ``MaximumRetryAttempts``,
``MaximumEventAgeInSeconds`` and ``DestinationConfig.OnFailure.Destination``. Nothing is restated.

Environment values that are intrinsics are resolved by :class:`Intrinsics`; ``environment`` overrides
(every function) and ``function_environment`` (by function name) replace values, intrinsic or not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .intrinsics import Intrinsics, UnresolvedIntrinsic
from .limits import (
    DEFAULT_MAXIMUM_EVENT_AGE_S,
    DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
    DEFAULT_MEMORY_SIZE_MB,
    DEFAULT_TIMEOUT_S,
)

PYTHON_RUNTIME_PREFIX = "python"


class TemplateError(Exception):
    """The template does not describe a function this platform can run; the message says what is missing."""


@dataclass(frozen=True)
class AsyncConfig:
    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_s: float = DEFAULT_MAXIMUM_EVENT_AGE_S
    on_failure_destination: str = ""  # an ARN (an SQS queue's), or empty


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    runtime: str  # "python3.11"
    memory_mb: int
    timeout_s: float
    code_dir: Path  # Lambda's /var/task
    layer_dirs: tuple[Path, ...]  # each layer's content, extracted to /opt in this order on Lambda
    environment: Mapping[str, str] = field(default_factory=dict)
    async_config: AsyncConfig = AsyncConfig()
    logical_id: str = ""
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions; None: the unreserved pool

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix(PYTHON_RUNTIME_PREFIX)


def load_functions(
    cdk_out: Path,
    stack: str = "WukongStack",
    *,
    intrinsics: Intrinsics | None = None,
    environment: Mapping[str, str] | None = None,
    function_environment: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, FunctionSpec]:
    """{function name: spec} for every Python function of ``stack``'s template in ``cdk_out``."""
    cdk_out = Path(cdk_out).resolve()  # environments run in their code directory: paths must be absolute
    template_file = cdk_out / f"{stack}.template.json"
    if not template_file.is_file():
        raise TemplateError(f"{template_file} does not exist: run `cdk synth {stack}` (./dev synth) first")
    resources = json.loads(template_file.read_text())["Resources"]
    assets = Assets(cdk_out, stack, resources)
    functions = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
        and str(resource["Properties"].get("Runtime", "")).startswith(PYTHON_RUNTIME_PREFIX)
    }
    intrinsics = (intrinsics or Intrinsics()).with_refs(
        {logical_id: function_name(logical_id, resource) for logical_id, resource in functions.items()}
    )
    configs, unresolved = event_invoke_configs(resources, intrinsics)
    specs = {}
    for logical_id, resource in functions.items():
        name = intrinsics.resolve(resource["Properties"].get("FunctionName", logical_id))
        overrides = {**(environment or {}), **(function_environment or {}).get(name, {})}
        variables, missing = resolve_environment(resource, intrinsics, overrides)
        unresolved += [f"{name}: {variable}" for variable in missing]
        specs[name] = function_spec(logical_id, name, resource, assets, variables, configs.get(name))
    if unresolved:
        raise TemplateError(
            "values only a deployment knows; give them as Intrinsics or environment overrides:\n  "
            + "\n  ".join(unresolved)
        )
    return specs


def function_name(logical_id: str, resource: dict) -> str:
    name = resource["Properties"].get("FunctionName", logical_id)
    return name if isinstance(name, str) else logical_id


def function_spec(logical_id, name, resource, assets, variables, async_config) -> FunctionSpec:
    properties = resource["Properties"]
    if "Handler" not in properties:
        raise TemplateError(f"function {name} ({logical_id}) has no Handler")
    layer_dirs = []
    for layer in properties.get("Layers", []):
        if not (isinstance(layer, dict) and "Ref" in layer):
            raise TemplateError(f"function {name}: layer {json.dumps(layer)} is not a layer of this stack")
        layer_dirs.append(assets.directory(layer["Ref"]))
    return FunctionSpec(
        name=name,
        handler=properties["Handler"],
        runtime=properties["Runtime"],
        memory_mb=int(properties.get("MemorySize", DEFAULT_MEMORY_SIZE_MB)),
        timeout_s=float(properties.get("Timeout", DEFAULT_TIMEOUT_S)),
        code_dir=assets.directory(logical_id),
        layer_dirs=tuple(layer_dirs),
        environment=variables,
        async_config=async_config or AsyncConfig(),
        logical_id=logical_id,
        reserved_concurrency=(
            int(properties["ReservedConcurrentExecutions"])
            if "ReservedConcurrentExecutions" in properties
            else None
        ),
    )


def resolve_environment(resource, intrinsics, overrides) -> tuple[dict[str, str], list[str]]:
    """(variables, descriptions of the ones nobody could resolve)."""
    declared = resource["Properties"].get("Environment", {}).get("Variables", {})
    variables, missing = {}, []
    for variable, value in declared.items():
        if variable in overrides:
            continue
        try:
            variables[variable] = intrinsics.resolve(value)
        except UnresolvedIntrinsic as exc:
            missing.append(f"{variable} = {exc}")
    variables.update(overrides)
    return variables, missing


def event_invoke_configs(resources: dict, intrinsics: Intrinsics) -> tuple[dict[str, AsyncConfig], list[str]]:
    """({function name: its $LATEST asynchronous-invocation settings}, destinations nobody resolved)."""
    configs, unresolved = {}, []
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::EventInvokeConfig":
            continue
        properties = resource["Properties"]
        if properties.get("Qualifier", "$LATEST") != "$LATEST":
            continue  # versions and aliases are not modelled: every invocation runs $LATEST
        name = intrinsics.resolve(properties["FunctionName"])
        on_failure = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", "")
        try:
            destination = intrinsics.resolve(on_failure) if on_failure else ""
        except UnresolvedIntrinsic as exc:
            unresolved.append(f"{name}: OnFailure destination = {exc}")
            destination = ""
        configs[name] = AsyncConfig(
            maximum_retry_attempts=int(
                properties.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS)
            ),
            maximum_event_age_s=float(
                properties.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_S)
            ),
            on_failure_destination=destination,
        )
    return configs, unresolved


class Assets:
    """Where a resource's asset lies in cdk.out: its metadata, else its S3 key in the assets manifest."""

    def __init__(self, cdk_out: Path, stack: str, resources: dict):
        self.cdk_out, self.resources = cdk_out, resources
        manifest = cdk_out / f"{stack}.assets.json"
        files = json.loads(manifest.read_text()).get("files", {}) if manifest.is_file() else {}
        self.by_hash = {key: entry["source"]["path"] for key, entry in files.items()}

    def directory(self, logical_id: str) -> Path:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"{logical_id} is not a resource of the template")
        relative = resource.get("Metadata", {}).get("aws:asset:path")
        if relative is None:
            code = resource["Properties"].get("Code") or resource["Properties"].get("Content") or {}
            relative = self.by_hash.get(str(code.get("S3Key", "")).removesuffix(".zip"))
        if relative is None:
            raise TemplateError(f"{logical_id} has no asset directory in {self.cdk_out}")
        path = self.cdk_out / relative
        if not path.is_dir():
            raise TemplateError(f"{logical_id}'s asset {path} is not a directory (a zip file asset?)")
        return path
