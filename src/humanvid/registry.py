"""One small name -> object registry, extended by other packages through entry points."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate name, or an entry that fails its registry's check. The message says which."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def import_target(target: str):
    """"package.module:attr" -> the object."""
    module, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"{target!r}: expected 'module:attribute'")
    return getattr(import_module(module), attr)


class Registry(Generic[T]):
    """Maps names to plugins (classes, specs or factories).

    Built-ins register with `add` (an object) or `add_lazy` (a "module:attr" imported on first lookup,
    so listing or validating names does not import every plugin); other packages add theirs through the
    entry-point group `group`, also imported only when looked up. `check(name, obj)` runs on every entry
    when it is first loaded and raises on one that breaks the registry's contract.
    """

    def __init__(self, kind: str, group: str, check: Callable[[str, T], None] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._items: dict[str, T] = {}
        self._lazy: dict[str, Callable[[], T]] = {}
        self._entry_points_listed = False

    def register(self, name: str):
        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        if (name in self._items and self._items[name] is not obj) or name in self._lazy:
            raise RegistryError(f"{self.kind} {name!r} is registered twice")
        self._run_check(name, obj)
        self._items[name] = obj

    def add_lazy(self, name: str, target: str) -> None:
        """Register `target` ("module:attr"), imported when `name` is first looked up."""
        if name in self._items or name in self._lazy:
            raise RegistryError(f"{self.kind} {name!r} is registered twice")
        self._lazy[name] = lambda: import_target(target)

    def _run_check(self, name: str, obj: T) -> None:
        if self._check is not None:
            try:
                self._check(name, obj)
            except (TypeError, ValueError, KeyError) as exc:
                raise RegistryError(f"{self.kind} {name!r}: {exc}") from None

    def _list_entry_points(self) -> None:
        if self._entry_points_listed:
            return
        self._entry_points_listed = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._items and ep.name not in self._lazy:  # a built-in already has that name
                self._lazy[ep.name] = ep.load

    def get(self, name: str) -> T:
        if name not in self._items and name not in self._lazy:
            self._list_entry_points()
        if name in self._lazy:
            obj = self._lazy.pop(name)()
            self._run_check(name, obj)
            self._items[name] = obj
        if name not in self._items:
            known = ", ".join(sorted(self.names())) or "(none)"
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._items[name]

    def names(self) -> list[str]:
        self._list_entry_points()
        return sorted({*self._items, *self._lazy})

    def __contains__(self, name: str) -> bool:
        return name in self._items or name in self._lazy or name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def lazy_builtins(registry: Registry, package: str, builtins: dict[str, str]):
    """Register a package's built-ins by import path ("module:Attr" relative to `package`), each imported when
    first looked up; returns the package's module-level `__getattr__`, so `from package import Attr` still
    works and imports only that plugin."""
    for name, target in builtins.items():
        registry.add_lazy(name, f"{package}.{target}")

    def __getattr__(attr: str):
        for name, target in builtins.items():
            if target.endswith(":" + attr):
                return registry.get(name)
        raise AttributeError(f"module {package!r} has no attribute {attr!r}")

    return __getattr__

