"""pandapower without the plotting libraries it never uses here.

``import pandapower`` imports its ``pandapower.plotting`` package (through
``pandapower.create``) and ``pandapower.control``'s plotting helpers, which import matplotlib
and plotly when they are installed: about half a second of CPU at the start of every process
that builds or solves the park's network, for plots the twin never draws through pandapower
(its figures are its own). pandapower treats both as optional (each of those imports is
guarded by ``except ImportError``), so :func:`install` lets the ``pandapower`` package
execute with them unimportable; they import as usual before and after, for everyone else.
Where matplotlib or plotly is already imported, nothing changes. Installed by the command
line (:mod:`twin.apps.cli`) only: a library user's process keeps pandapower's plotting. The
cost: pandapower's own plotting functions, called in a command's process, say that matplotlib
is missing.

Likewise ``pandapower.estimation`` (state estimation, which the twin never runs) and
``pvlib.spectrum`` (spectral mismatch, which the twin's PV model does not apply) are loaded
lazily (:class:`importlib.util.LazyLoader`): ``import pandapower`` or ``import pvlib`` binds
them, and they execute, with the ``scipy.stats`` and ``scipy.integrate`` they import (about a
quarter of a second of CPU each), on their first attribute access, as before for whoever
uses them. For that, the package's modules that import
``pandapower.__init__`` (for its ``pp_dir``; which executes the package's ``__init__.py`` a
second time, as another module, and touches the lazy module) get the package itself.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from importlib.util import LazyLoader
from types import ModuleType

PACKAGE = "pandapower"
OPTIONAL = ("matplotlib", "plotly")  # what PACKAGE imports only if it can
# what PACKAGE and pvlib import and the twin never uses: state estimation (with scipy.stats),
# spectral mismatch (with scipy.integrate)
LAZY = ("pandapower.estimation", "pvlib.spectrum")
ALIAS = f"{PACKAGE}.__init__"  # PACKAGE's own __init__.py imported as a module of its own


class _Same(Loader):
    """Loads :data:`ALIAS` as the package :data:`PACKAGE` itself (already in ``sys.modules``,
    its ``pp_dir`` set on its first line)."""

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return sys.modules[PACKAGE]

    def exec_module(self, module: ModuleType) -> None:
        pass


class _Without(MetaPathFinder):
    """Finds :data:`PACKAGE` as the path finder does and runs it with :data:`OPTIONAL`
    unimportable (``None`` in ``sys.modules``: their import raises ImportError)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname == ALIAS and PACKAGE in sys.modules:
            return ModuleSpec(fullname, _Same())
        if fullname in LAZY:
            spec = PathFinder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader,
                                                                        "exec_module"):
                spec.loader = LazyLoader(spec.loader)
            return spec
        if fullname != PACKAGE or any(name in sys.modules for name in OPTIONAL):
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            blocked = [name for name in OPTIONAL if name not in sys.modules]
            sys.modules.update(dict.fromkeys(blocked))
            try:
                execute(module)
            finally:
                for name in blocked:
                    if name in sys.modules and sys.modules[name] is None:
                        del sys.modules[name]

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _Without) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Without())
