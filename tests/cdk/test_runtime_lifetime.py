"""One Python version for Lambda, the layers and the VM, and the date Lambda deprecates it (issue 12, item 15).

The deprecation dates are AWS's (Lambda runtimes table); cfn-lint ships the same table as data, so this
test notices when AWS moves them, and docs/deploy.md must print the date the constants hold.
"""

from __future__ import annotations

import json
from importlib import resources

from stack_support import REPO_ROOT

from cdk.constants import (
    LAMBDA_PYTHON_BLOCK_CREATE_DATE,
    LAMBDA_PYTHON_BLOCK_UPDATE_DATE,
    LAMBDA_PYTHON_DEPRECATION_DATE,
    PYTHON_VERSION,
)
from cdk.functions import RUNTIME
from layers.build import TARGET_PLATFORM_FLAGS


def lifecycle(runtime: str) -> dict:
    data = resources.files("cfnlint") / "data" / "AdditionalSpecs" / "LmbdRuntimeLifecycle.json"
    return json.loads(data.read_text())[runtime]


def test_the_constants_are_lambdas_dates_for_the_runtime():
    dates = lifecycle(f"python{PYTHON_VERSION}")
    assert (dates["deprecated"], dates["create-block"], dates["update-block"]) == (
        LAMBDA_PYTHON_DEPRECATION_DATE,
        LAMBDA_PYTHON_BLOCK_CREATE_DATE,
        LAMBDA_PYTHON_BLOCK_UPDATE_DATE,
    )


def test_one_version_for_the_functions_the_layers_and_the_vm():
    from cdk.scheduler_host import PYTHON

    assert RUNTIME.name == f"python{PYTHON_VERSION}"
    assert TARGET_PLATFORM_FLAGS[TARGET_PLATFORM_FLAGS.index("--python-version") + 1] == PYTHON_VERSION
    assert f"python{PYTHON_VERSION}" == PYTHON


def test_deploy_doc_prints_the_deprecation_date():
    assert LAMBDA_PYTHON_DEPRECATION_DATE in (REPO_ROOT / "docs" / "deploy.md").read_text()
