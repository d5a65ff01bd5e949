"""A Lambda-faithful platform on loopback: the packaged functions of a synthesized stack, run in execution
environments (``python -I -S`` processes with awslambdaric) behind Lambda's Invoke API.

See docs/lambda-platform.md. ``python -m lambda_platform --help`` starts it as a process.
"""

from __future__ import annotations

from .intrinsics import Intrinsics, UnresolvedIntrinsic
from .logs import Report
from .platform import LambdaPlatform
from .settings import PLATFORM_URL, DroppedEvent, PlatformSettings
from .template import AsyncConfig, FunctionSpec, TemplateError, load_functions

__all__ = [
    "PLATFORM_URL",
    "AsyncConfig",
    "DroppedEvent",
    "FunctionSpec",
    "Intrinsics",
    "LambdaPlatform",
    "PlatformSettings",
    "Report",
    "TemplateError",
    "UnresolvedIntrinsic",
    "load_functions",
]
