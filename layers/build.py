"""Build the executors' Lambda layers from the recipes in ``layers/<name>/requirements.txt``.

Usage: ``python -m layers.build [--force]`` (``app.py`` calls :func:`build_layers` itself, so ``cdk synth``
builds what is missing). Output, all under ``layers/build/`` (gitignored)::

    layers/build/numpy/python/...      one directory per layer, in LAYER_ORDER; Lambda puts python/ on sys.path
    layers/build/dask/python/...
    layers/build/requirements.lock     name==version of every distribution in the layers (the scheduler VM
                                       installs exactly these, so client and executors unpickle alike)
    layers/build/stamp.json            what the build was made from; an unchanged stamp skips the rebuild
    layers/build/vm/wheels/*.whl       the scheduler VM's wheels: the lock plus layers/vm/requirements.txt
    layers/build/vm/vm-requirements.txt  name==version --hash=sha256:... of each (pip --require-hashes)
    layers/build/vm/stamp.json         the VM bundle's own stamp (the lock, the VM recipe, Python, platform)

Wheels come from the package index for Lambda's platform, not this machine's: pip's ``--platform
manylinux2014_x86_64 --python-version <PYTHON_VERSION> --only-binary :all:``. Lambda's python3.11 runtime
runs on Amazon Linux 2 (glibc 2.26), so manylinux2014 (glibc 2.17) is the newest tag that is safe there.
A distribution that two layers both resolve (numpy) is kept in the first layer only, after checking both
resolved the same version. The build fails when the layers and the function code together pass Lambda's
250 MB unzipped limit. The VM's wheels are downloaded with the same flags (``pip download``), so the VM
installs offline (``pip install --no-index``) exactly what the executors run, plus the AWS SDK.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python layers/build.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdk.constants import PYTHON_VERSION, RUNTIME_DIR, VM_REQUIREMENTS, VM_WHEELS_DIR  # noqa: E402

LAYERS_DIR = Path(__file__).resolve().parent
BUILD_DIR = LAYERS_DIR / "build"
LOCK_FILE = BUILD_DIR / "requirements.lock"
STAMP_FILE = BUILD_DIR / "stamp.json"
REPO_ROOT = LAYERS_DIR.parent
VM_RECIPE = LAYERS_DIR / "vm" / "requirements.txt"
VM_BUNDLE_DIR = BUILD_DIR / "vm"  # what the scheduler VM's asset carries (cdk/runtime_asset.py)
VM_STAMP_FILE = VM_BUNDLE_DIR / "stamp.json"

LAYER_ORDER = ("numpy", "scipy", "dask")  # earlier layers win when two resolve the same distribution
PLATFORM = "manylinux2014_x86_64"
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000  # "250 MB": function code plus all layers, unzipped
LAMBDA_MAX_LAYERS = 5
BUILD_FORMAT = 2  # bump when this script's output changes shape, to invalidate old stamps

STRIP_DIR_NAMES = frozenset({"__pycache__", "tests", "test", "testing_data"})
STRIP_SUFFIXES = (".pyc", ".pyo")
# Files of test directories that a package's own code imports, kept when their directory goes: numpy.testing
# imports numpy._core.tests._natype (numpy 2.1+), and scipy imports numpy.testing (the rehearsal's Cholesky
# failed on Lambda with "No module named 'numpy._core.tests'").
KEPT_IN_TESTS = frozenset({"numpy/_core/tests/_natype.py"})


class LayerBuildError(RuntimeError):
    """The layers could not be built or are over a Lambda limit."""


@dataclass(frozen=True)
class Distribution:
    name: str  # normalized: lower case, "-" for "_" and "."
    version: str
    dist_info: Path


def build_layers(*, force: bool = False, log=print) -> list[Path]:
    """Build every layer unless the stamp says the build is current; return the layer directories in order."""
    if len(LAYER_ORDER) > LAMBDA_MAX_LAYERS:
        raise LayerBuildError(f"{len(LAYER_ORDER)} layers; Lambda allows {LAMBDA_MAX_LAYERS} per function")
    layer_dirs = [BUILD_DIR / name for name in LAYER_ORDER]
    stamp = build_stamp()
    if not force and STAMP_FILE.exists() and json.loads(STAMP_FILE.read_text()) == stamp:
        return layer_dirs
    started = time.monotonic()
    log(f"building Lambda layers {', '.join(LAYER_ORDER)} for Python {PYTHON_VERSION} ({PLATFORM}) ...")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    STAMP_FILE.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD_DIR, prefix=".staging-") as staging:
        staged = [Path(staging) / name for name in LAYER_ORDER]
        for name, target in zip(LAYER_ORDER, staged, strict=True):
            pip_install(LAYERS_DIR / name / "requirements.txt", target / "python")
        deduplicate(staged, log)
        for target in staged:
            strip(target / "python")
        check_size(staged)
        lock = lock_lines(staged)
        for target, final in zip(staged, layer_dirs, strict=True):
            shutil.rmtree(final, ignore_errors=True)
            target.rename(final)
    LOCK_FILE.write_text("".join(f"{line}\n" for line in lock))
    STAMP_FILE.write_text(json.dumps(stamp, indent=1, sort_keys=True))
    sizes = ", ".join(f"{d.name} {tree_bytes(d) / 1e6:.0f} MB" for d in layer_dirs)
    log(f"built layers in {time.monotonic() - started:.0f} s: {sizes}")
    return layer_dirs


def build_stamp() -> dict:
    """Everything the build's output depends on: recipes (with the files they include), version, platform."""
    recipes = {}
    for name in LAYER_ORDER:
        recipe = LAYERS_DIR / name / "requirements.txt"
        recipes[name] = digest_requirements(recipe)
    return {"format": BUILD_FORMAT, "python": PYTHON_VERSION, "platform": PLATFORM, "recipes": recipes}


def digest_requirements(path: Path) -> str:
    """sha256 of a requirements file and, recursively, of the files its ``-r`` lines include."""
    digest = hashlib.sha256(path.read_bytes())
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("-r", "--requirement"):
            digest.update(digest_requirements((path.parent / parts[1]).resolve()).encode())
    return digest.hexdigest()


# Wheels for Lambda's platform and Python, whatever this machine is.
TARGET_PLATFORM_FLAGS = (
    "--platform",
    PLATFORM,
    "--implementation",
    "cp",
    "--python-version",
    PYTHON_VERSION,
    "--only-binary",
    ":all:",
)


def pip_install(requirements: Path, target: Path) -> None:
    run_pip(["install", "--target", str(target), *TARGET_PLATFORM_FLAGS, "--no-compile"], requirements)


def run_pip(arguments: list[str], requirements: Path) -> None:
    command = [sys.executable, "-m", "pip", *arguments[:1], "--quiet", "--disable-pip-version-check"]
    command += [*arguments[1:], "-r", str(requirements)]
    result = subprocess.run(command, cwd=requirements.parent, capture_output=True, text=True)
    if result.returncode != 0:
        raise LayerBuildError(
            f"pip could not {arguments[0]} {requirements.name} for Lambda's platform "
            f"(Python {PYTHON_VERSION}, {PLATFORM}); it needs the package index. pip said:\n{result.stderr}"
        )


def build_vm_bundle(*, force: bool = False, log=print) -> Path:
    """Download the scheduler VM's wheels (the layers' lock plus VM_RECIPE) unless the VM stamp is
    current; return the bundle directory (``wheels/`` and ``vm-requirements.txt``). Needs the lock."""
    if not LOCK_FILE.exists():
        raise LayerBuildError(f"{LOCK_FILE.relative_to(REPO_ROOT)} is missing: build the layers first")
    stamp = vm_stamp()
    if not force and VM_STAMP_FILE.exists() and json.loads(VM_STAMP_FILE.read_text()) == stamp:
        return VM_BUNDLE_DIR
    started = time.monotonic()
    log(f"downloading the scheduler VM's wheels for Python {PYTHON_VERSION} ({PLATFORM}) ...")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD_DIR, prefix=".staging-vm-") as staging:
        wanted = Path(staging) / "wanted.txt"
        wanted.write_text(LOCK_FILE.read_text() + VM_RECIPE.read_text())
        staged = Path(staging) / "vm"
        run_pip(["download", "--dest", str(staged / VM_WHEELS_DIR), *TARGET_PLATFORM_FLAGS], wanted)
        pins = hashed_pins(staged / VM_WHEELS_DIR)
        (staged / VM_REQUIREMENTS).write_text("".join(f"{line}\n" for line in pins))
        shutil.rmtree(VM_BUNDLE_DIR, ignore_errors=True)
        staged.rename(VM_BUNDLE_DIR)
    VM_STAMP_FILE.write_text(json.dumps(stamp, indent=1, sort_keys=True))
    count = len(list((VM_BUNDLE_DIR / VM_WHEELS_DIR).glob("*.whl")))
    log(f"downloaded {count} VM wheels in {time.monotonic() - started:.0f} s")
    return VM_BUNDLE_DIR


def vm_stamp() -> dict:
    return {
        "format": BUILD_FORMAT,
        "python": PYTHON_VERSION,
        "platform": PLATFORM,
        "lock": hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest(),
        "recipe": digest_requirements(VM_RECIPE),
    }


def hashed_pins(wheels: Path) -> list[str]:
    """``name==version --hash=sha256:...`` for each wheel: what ``pip install --require-hashes`` takes."""
    pins = []
    for wheel in sorted(wheels.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]  # {distribution}-{version}(-{build})?-{tags}.whl
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        pins.append(f"{normalize(name)}=={version} --hash=sha256:{digest}")
    return pins


def distributions(site: Path) -> dict[str, Distribution]:
    found = {}
    for dist_info in site.glob("*.dist-info"):
        fields = parse_metadata(dist_info / "METADATA")
        name = normalize(fields["Name"])
        found[name] = Distribution(name, fields["Version"], dist_info)
    return found


def parse_metadata(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            break  # the headers end at the first blank line; the long description follows
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version"):
            fields[key] = value.strip()
    return fields


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def deduplicate(layers: list[Path], log) -> None:
    """Remove from later layers every distribution an earlier layer holds; versions must agree."""
    seen: dict[str, Distribution] = {}
    for layer in layers:
        site = layer / "python"
        for name, dist in sorted(distributions(site).items()):
            if name not in seen:
                seen[name] = dist
                continue
            if seen[name].version != dist.version:
                raise LayerBuildError(
                    f"{name} resolved to {seen[name].version} in one layer and {dist.version} in "
                    f"{layer.name}; give both recipes the same specifier"
                )
            remove_distribution(site, dist)
            log(f"  {layer.name}: {name} {dist.version} is in an earlier layer; removed")


def remove_distribution(site: Path, dist: Distribution) -> None:
    for line in (dist.dist_info / "RECORD").read_text().splitlines():
        relative = line.rsplit(",", 2)[0]
        path = (site / relative).resolve()
        if path.is_relative_to(site.resolve()) and path.is_file():
            path.unlink()
    shutil.rmtree(dist.dist_info, ignore_errors=True)
    prune_empty_dirs(site)


def prune_empty_dirs(root: Path) -> None:
    for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(path.iterdir()):
            path.rmdir()


def strip(site: Path) -> None:
    """Drop test suites and bytecode: Lambda never runs them and they count against the size limit."""
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in STRIP_DIR_NAMES and not path.name.endswith(".dist-info"):
            strip_directory(site, path)
        elif path.is_file() and path.suffix in STRIP_SUFFIXES:
            path.unlink()


def strip_directory(site: Path, directory: Path) -> None:
    """Remove ``directory`` but the files of KEPT_IN_TESTS in it."""
    kept = {site / name for name in KEPT_IN_TESTS if (site / name).parent == directory}
    if not kept:
        shutil.rmtree(directory)
        return
    for path in directory.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        elif path not in kept:
            path.unlink()


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def function_code_bytes() -> int:
    return sum(
        p.stat().st_size
        for p in RUNTIME_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in STRIP_SUFFIXES
    )


def check_size(layers: list[Path]) -> int:
    """Raise unless the layers plus the function code fit Lambda's unzipped limit; return the total."""
    sizes = {layer.name: tree_bytes(layer) for layer in layers}
    total = sum(sizes.values()) + function_code_bytes()
    if total > LAMBDA_UNZIPPED_LIMIT_BYTES:
        detail = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items())
        raise LayerBuildError(
            f"layers and function code are {total / 1e6:.1f} MB unzipped ({detail}), over Lambda's "
            f"{LAMBDA_UNZIPPED_LIMIT_BYTES / 1e6:.1f} MB limit; drop a dependency or strip more"
        )
    return total


def lock_lines(layers: list[Path]) -> list[str]:
    pins = {}
    for layer in layers:
        for dist in distributions(layer / "python").values():
            pins[dist.name] = dist.version
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp is current")
    args = parser.parse_args(argv)
    try:
        layer_dirs = build_layers(force=args.force)
        build_vm_bundle(force=args.force)
    except LayerBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = check_size(layer_dirs)
    print(f"layers + function code: {total / 1e6:.1f} MB of {LAMBDA_UNZIPPED_LIMIT_BYTES / 1e6:.1f} MB")
    for path in layer_dirs:
        print(path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
