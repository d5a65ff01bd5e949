"""The "runtime" directory: what Lambda's python3.11 managed runtime has in ``/var/runtime``.

Built like the layers (``layers/build.py``'s pip install for Lambda's platform, its recipe digest) from
``lambda_platform/runtime-requirements.txt`` into ``lambda_platform/build/runtime/`` (gitignored), with a
stamp of the recipe, Python version and platform: an unchanged stamp skips the build, so only the first
start needs the package index. ``python -m lambda_platform.runtime_dir [--force]`` builds it alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from cdk.constants import PYTHON_VERSION
from layers.build import PLATFORM, digest_requirements, pip_install

PACKAGE_DIR = Path(__file__).resolve().parent
RECIPE = PACKAGE_DIR / "runtime-requirements.txt"
BUILD_DIR = PACKAGE_DIR / "build"
RUNTIME_DIR = BUILD_DIR / "runtime"
STAMP_FILE = BUILD_DIR / "runtime-stamp.json"
BUILD_FORMAT = 1  # bump when the directory's layout changes, to invalidate old stamps


def build_runtime_dir(*, force: bool = False, log=print) -> Path:
    """The runtime directory, built unless the stamp says it is current."""
    stamp = {
        "format": BUILD_FORMAT,
        "python": PYTHON_VERSION,
        "platform": PLATFORM,
        "recipe": digest_requirements(RECIPE),
    }
    current = RUNTIME_DIR.is_dir() and STAMP_FILE.is_file() and json.loads(STAMP_FILE.read_text()) == stamp
    if current and not force:
        return RUNTIME_DIR
    started = time.monotonic()
    log(f"building the Lambda runtime directory for Python {PYTHON_VERSION} ({PLATFORM}) ...")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    STAMP_FILE.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD_DIR, prefix=".staging-") as staging:
        target = Path(staging) / "runtime"
        pip_install(RECIPE, target)
        shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
        target.rename(RUNTIME_DIR)
    STAMP_FILE.write_text(json.dumps(stamp, indent=1, sort_keys=True))
    log(f"built the runtime directory in {time.monotonic() - started:.0f} s: {RUNTIME_DIR}")
    return RUNTIME_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp is current")
    args = parser.parse_args(argv)
    print(build_runtime_dir(force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
