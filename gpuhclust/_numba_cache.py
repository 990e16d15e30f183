"""Numba's on-disk cache for gpuhclust's kernels, invalidated when a module they import changes.

Numba keys a cached function on its own source file: the index holds a hash of that file, and
the cached code is used while the hash matches. A kernel that calls a jitted function of
another module, or reads one of its constants, has that code compiled into its own; when only
the other module changes, the cached kernel keeps the old code. A constant that sizes an array
(``_rounds.KEPT``, say) then disagrees with the arrays the new code allocates, and the stale
kernel writes out of bounds; a fix in a callee silently does not take effect. An editable
install (the README's) meets this on every ``git pull`` that changes a callee's module only.
Numba's own remedy is not released (numba/numba#8396).

:func:`install` puts locators in front of Numba's for gpuhclust's modules: the same cache
directories (``NUMBA_CACHE_DIR``, the package's ``__pycache__``, the user-wide cache, in
Numba's order), but the stamp of a module is a hash over its source and the source of every
gpuhclust module it imports, transitively (each file's content hashed, as Numba hashes its
own). Which modules a module imports is read from every import statement in it, those inside
functions and blocks included (a kernel factory's import may reach a closure, which Numba
freezes into the code): more than its kernels need, so an edit may have kernels compiled again
that did not need it, but never leaves one stale. A package's ``__init__`` counts where a name
is imported from it, not where only its submodules are. Only the import statements are parsed,
each on its own (so a file with newer syntax behind a version check is read too); one that does
not parse alone is read as words. A file that cannot be read counts as importing nothing (it
cannot be imported either). Should the stamp itself fail, the kernel gets a stamp that matches
no cache: it is compiled, never loaded stale. Functions outside gpuhclust keep Numba's own
locators. ``NUMBA_CACHE_LOCATOR_CLASSES`` replaces every locator, these included:
:func:`install` warns when it is set.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import re
import textwrap
import warnings

from numba.core import caching, config

__all__ = ["install", "imported_modules", "source_stamp"]

PACKAGE = os.path.dirname(os.path.realpath(__file__))


def _module_file(base: str, dotted: str) -> str | None:
    """The source file of module `dotted` under directory `base` (a package's
    ``__init__.py``), or None where there is none."""
    path = os.path.join(base, *dotted.split(".")) if dotted else base
    for candidate in (path + ".py", os.path.join(path, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _imports(path: str):
    """(module, level, imported names) of every import statement in `path`, those inside
    functions, classes and blocks included; nothing where the file cannot be read.

    Only the import statements are parsed, each on its own (a whole module's syntax tree costs
    several times as much, and a file with newer syntax behind a version check would not
    parse): an import statement holds no string, so dropping comments leaves its text whole.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return
    for match in _STATEMENT.finditer(text):
        statement = _statement_at(text, match.start("statement"))
        try:
            tree = ast.parse(textwrap.dedent(statement).strip())
        except (SyntaxError, ValueError):  # a docstring's line, say
            yield from _names_in(statement)
            continue
        yield from _statement_imports(tree.body)


# the first line of an import statement: at the start of a line, or after a block's colon or
# a semicolon on it (`except ImportError: from . import _x`)
_STATEMENT = re.compile(r"^[ \t]*(?:[^#\n]*?[:;][ \t]*)?(?P<statement>from[ \t]+[.\w]+[ \t]+"
                        r"import\b|import[ \t]+[\w.])", re.M)


def _statement_at(text: str, start: int) -> str:
    """The import statement from `start` on, without its comments: its lines while a
    parenthesis is open or a line ends in a backslash."""
    statement = ""
    while True:
        end = text.find("\n", start)
        code = text[start:end if end >= 0 else len(text)].split("#", 1)[0]
        statement += code + "\n"
        if end < 0 or (statement.count("(") <= statement.count(")")
                       and not code.rstrip().endswith("\\")):
            return statement
        start = end + 1


def _statement_imports(statements):
    """(module, level, imported names) of the import statements among `statements` (and
    those nested in them)."""
    statements = list(statements)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, tuple(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0, ()
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            statements.extend(getattr(node, field, ()))


def _names_in(statement: str):
    """An import statement that does not parse alone, read as words: every name in it may
    be a module (more dependencies than it has, never fewer)."""
    head = re.match(r"\s*from\s+(\.*)([\w.]*)\s+import\b(.*)", statement, re.S)
    if head:
        yield head[2], len(head[1]), tuple(re.findall(r"[A-Za-z_]\w*", head[3]))
    else:
        for name in re.findall(r"[A-Za-z_][\w.]*", statement.split("import", 1)[1]):
            yield name, 0, ()


@functools.lru_cache(maxsize=None)
def _direct_imports(path: str, package: str, st_mtime: float, st_size: int) -> frozenset:
    """The modules of `package` that `path` imports (keyed on its stamp, as Numba keys its
    hash, so that an edited file is read again)."""
    found = set()
    for name, level, names in _imports(path):
        if level:
            base = os.path.dirname(path)
            for _ in range(level - 1):
                base = os.path.dirname(base)
        elif name.split(".")[0] == os.path.basename(package):
            base = os.path.dirname(package)
        else:
            continue
        # `from . import _x` and `from .pkg import _x` import the submodule _x; the package's
        # own `__init__` counts only for a name that is not a submodule
        sub_base = os.path.join(base, *name.split(".")) if name else base
        subs = [_module_file(sub_base, alias) if alias != "*" else None for alias in names]
        found.update(subs)
        if not subs or None in subs or not os.path.isdir(sub_base):
            found.add(_module_file(base, name))
    return frozenset(os.path.realpath(p) for p in found if p is not None and _within(p, package))


@functools.lru_cache(maxsize=None)
def _within(path: str, root: str) -> bool:
    return os.path.realpath(path).startswith(root + os.sep)


def imported_modules(path) -> list[str]:
    """The source files a module's cached kernels may depend on.

    Parameters
    ----------
    path : str or path-like
        A source file of the package.

    Returns
    -------
    list of str
        `path` and every module of the package it imports, transitively (real paths, sorted).
    """
    start = os.path.realpath(path)
    seen = {start}
    todo = [start]
    while todo:
        current = todo.pop()
        for dep in _direct_imports(current, PACKAGE, *_stat(current)):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, st_mtime: float, st_size: int) -> bytes:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).digest()


def source_stamp(path) -> bytes:
    """The cache stamp of `path`, a source file of the package (as for
    :func:`imported_modules`).

    Returns
    -------
    bytes
        A SHA-256 digest over the contents and package-relative names of
        ``imported_modules(path)``: it changes when any of them does.
    """
    digest = hashlib.sha256()
    for module in imported_modules(path):
        digest.update(os.path.relpath(module, os.path.dirname(PACKAGE)).encode())
        digest.update(_file_digest(module, *_stat(module)))
    return digest.digest()


def _stat(path: str):
    st = os.stat(path)
    return st.st_mtime, st.st_size


class _PackageStamp:
    """Mixed in front of a Numba locator: the package's modules only, stamped by
    :func:`source_stamp`."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not py_file or not os.path.exists(py_file) or not _within(py_file, PACKAGE):
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        try:
            return source_stamp(self._py_file)
        except Exception as exc:  # noqa: BLE001 - Numba calls this at decoration time
            warnings.warn(f"gpuhclust: no cache stamp for {self._py_file} ({exc!r}); its "
                          "kernels are compiled, not loaded from the cache", RuntimeWarning,
                          stacklevel=2)
            return os.urandom(16)  # matches no index: compiled, never stale


try:
    _LOCATORS = tuple(
        type(f"Package{base.__name__}", (_PackageStamp, base), {})
        for base in (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                     caching.UserWideCacheLocator))
except AttributeError:  # a Numba without these classes: its own locators stay
    _LOCATORS = ()


def install() -> bool:
    """Put the package's locators in front of Numba's, once.

    Call it before the modules whose kernels it concerns are imported: Numba picks a
    function's locator when the function is decorated.

    Returns
    -------
    bool
        Whether the locators are in place (False with a Numba whose locators this module does
        not know: its own behaviour then stays).
    """
    classes = getattr(getattr(caching, "CacheImpl", None), "_locator_classes", None)
    if not _LOCATORS or not isinstance(classes, list):
        return False
    if classes[:len(_LOCATORS)] != list(_LOCATORS):
        classes[:0] = _LOCATORS
        if getattr(config, "CACHE_LOCATOR_CLASSES", None):
            warnings.warn("gpuhclust: NUMBA_CACHE_LOCATOR_CLASSES is set, so Numba does not "
                          "use gpuhclust's cache locators: a cached kernel is not compiled "
                          "again when a module it imports changes", RuntimeWarning,
                          stacklevel=2)
    return True
