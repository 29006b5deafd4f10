#!/usr/bin/env python3
"""Lists every public name of the installed python-diameter package, one
per line, qualified by the module a user imports it from.

Module-level names are what `from M import *` gives for each public module
(its `__all__` when it has one, else every name without a leading
underscore), keeping only what the package itself defines (not the standard
library's `dataclasses`, `typing`, ... that its modules import). A name
re-exported by several modules is listed once, under the first module of
PUBLIC_MODULES that exports it. Then, for every class the package defines,
its public members: methods, properties and class attributes of its own
`__dict__`, dataclass fields, and the attributes its `__init__` or
`__post_init__` assign on `self`, as `module.Class.member`.

Used by porting.py to check that docs/porting.md has a row for each.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import sys
import textwrap

# the modules a porting user imports from, in the order names are claimed
PUBLIC_MODULES = [
    "diameter.message",
    "diameter.message.constants",
    "diameter.message.avp",
    "diameter.message.avp.errors",
    "diameter.message.avp.dictionary",
    "diameter.message.avp.generator",
    "diameter.message.avp.grouped",
    "diameter.message.commands",
    "diameter.message.packer",
    "diameter.node",
    "diameter.node.peer",
    "diameter.node.application",
    "diameter.node.node",
]


def command_modules() -> list[str]:
    import diameter.message.commands as commands
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__, commands.__name__ + ".")
                  if not m.name.rsplit(".", 1)[1].startswith("_"))


def exported(mod) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith("_")]
    return [n for n in names if hasattr(mod, n)]


def defined_here(obj) -> bool:
    """Whether the package defines obj (a constant of its own counts)."""
    if inspect.ismodule(obj):
        return False
    if isinstance(obj, (int, str, float, bytes, dict, list, tuple, frozenset, set)):
        return True
    module = getattr(obj, "__module__", None) or ""
    return module.startswith("diameter")


def self_attributes(cls) -> set[str]:
    """Attributes `__init__`/`__post_init__` assign on self."""
    out: set[str] = set()
    for meth in ("__init__", "__post_init__"):
        fn = cls.__dict__.get(meth)
        if fn is None or not inspect.isfunction(fn):
            continue
        try:
            src = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(src)):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for t in targets:
                if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                        and t.value.id == "self"):
                    out.add(t.attr)
    return out


def members(cls) -> list[str]:
    names = {n for n in cls.__dict__ if not n.startswith("_")}
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    names |= {n for n in self_attributes(cls) if not n.startswith("_")}
    # annotations of the class itself (python's command and grouped classes)
    names |= {n for n in cls.__dict__.get("__annotations__", {}) if not n.startswith("_")}
    return sorted(names)


def python_names() -> list[str]:
    modules = PUBLIC_MODULES + command_modules()
    seen: dict[tuple, str] = {}
    classes: list[tuple[str, type]] = []
    out: list[str] = []
    for name in modules:
        mod = importlib.import_module(name)
        for n in exported(mod):
            obj = getattr(mod, n)
            if not defined_here(obj):
                continue
            key = (n, id(obj)) if (inspect.isclass(obj) or callable(obj)) else (n,)
            if key in seen:
                continue
            seen[key] = name
            out.append(f"{name}.{n}")
            if inspect.isclass(obj):
                classes.append((f"{name}.{n}", obj))
    for qual, cls in classes:
        for m in members(cls):
            out.append(f"{qual}.{m}")
    return out


def main() -> int:
    for n in python_names():
        print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
