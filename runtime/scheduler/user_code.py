"""The user's own modules travel with the tasks, for executors that do not have them.

cloudpickle pickles a function or class by reference (its module and name) whenever its module can be
imported, and by value (its code) only for ``__main__`` and functions made at run time. A Lambda
executor has the function's package (the runtime) and the layers, nothing else: a task function of the
user's own modules, pickled by reference, fails there with ``ModuleNotFoundError`` (``python -m
examples`` on the scheduler VM: ``examples.workloads.inc``). So before a job's tasks are pickled, the
client registers for pickling by value every imported top-level package that is neither installed
(the standard library, site-packages) nor Wukong itself: exactly the code only the user's machine has.
Installed packages stay by reference: the executors have them at the same versions (the layers are
the VM's lock), and their code can be large.

Local mode does not need this: its workers run on the client's machine with the client's ``sys.path``.
The registration is cloudpickle's and process-wide, so it holds only while an AWS job's (or scatter's)
values are pickled (``by_value``): a local client in the same process keeps pickling by reference,
and its tracebacks keep their source lines.
"""

from __future__ import annotations

import contextlib
import site
import sys
import sysconfig
import threading
from collections.abc import Iterator
from pathlib import Path

import cloudpickle

WUKONG_PACKAGE = __name__.partition(".")[0]
_user_packages: set[str] = set()  # top-level names judged the user's own
_checked: set[str] = set()  # top-level names already judged, either way
_lock = threading.Lock()
_scopes = 0  # by_value blocks open now (jobs of several threads)


def installed_roots() -> tuple[Path, ...]:
    """Where installed code lives: the standard library and every site-packages directory."""
    paths = sysconfig.get_paths()
    roots = [paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths]
    roots += site.getsitepackages() + [site.getusersitepackages()]
    return tuple(Path(root).resolve() for root in roots)


def module_dirs(module) -> list[Path]:
    """The files or directories a module was loaded from (several for a namespace package)."""
    if getattr(module, "__file__", None):
        return [Path(module.__file__).resolve()]
    return [Path(entry).resolve() for entry in getattr(module, "__path__", [])]


def is_user_module(name: str, module, roots: tuple[Path, ...]) -> bool:
    if name in ("__main__", WUKONG_PACKAGE) or name in sys.builtin_module_names:
        return False  # __main__ goes by value already; Wukong is the executors' own package
    dirs = module_dirs(module)
    return bool(dirs) and not any(d.is_relative_to(root) for d in dirs for root in roots)


def find_user_packages() -> set[str]:
    """Every imported top-level package that is the user's own; a package is judged once."""
    roots = None
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top in _checked or module is None:
            continue
        _checked.add(top)
        roots = roots or installed_roots()
        top_module = sys.modules.get(top)
        if top_module is not None and is_user_module(top, top_module, roots):
            _user_packages.add(top)
    return set(_user_packages)


@contextlib.contextmanager
def by_value(needed: bool = True) -> Iterator[set[str]]:
    """While open (and ``needed``), the user's packages pickle by value; yields their names."""
    global _scopes
    if not needed:
        yield set()
        return
    with _lock:
        packages = {name for name in find_user_packages() if name in sys.modules}
        for name in packages:
            cloudpickle.register_pickle_by_value(sys.modules[name])
        _scopes += 1
    try:
        yield packages
    finally:
        with _lock:
            _scopes -= 1
            if _scopes == 0:
                for name in _user_packages:
                    with contextlib.suppress(ValueError, KeyError):  # unloaded, or never registered
                        cloudpickle.unregister_pickle_by_value(sys.modules[name])
