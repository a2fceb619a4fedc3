"""Registries that built-ins and plugins join alike: sentence writers and output formats.

A registry maps names to entries. Built-in modules register their entries when imported; an
installed package adds its own through an entry point of the registry's group, imported the first
time a name is looked up or listed (simonw/llm's arrangement, without a plugin framework).
"""

from __future__ import annotations

from importlib import metadata
from typing import Generic, TypeVar

from lzt.errors import UsageError, warn

T = TypeVar("T")


class Registry(Generic[T]):
    """`what`: what the entries are, for messages; `group`: the entry-point group of plugins;
    `parameter`: the library parameter that names an entry; `first`: built-ins listed first."""

    def __init__(self, what: str, group: str, parameter: str, first: tuple[str, ...] = ()):
        self.what = what
        self.group = group
        self.parameter = parameter
        self.first = first
        self._entries: dict[str, T] = {}
        self._plugins_loaded = False

    def register(self, name: str, entry: T) -> T:
        """Make `entry` available as `name` (a later registration of the name replaces it)."""
        self._entries[name] = entry
        return entry

    def _load_plugins(self) -> None:
        """Import every entry point of the group once. A broken plugin is an LztWarning that
        names it, never a silent absence, and never the failure of every other command."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry_point in metadata.entry_points(group=self.group):
            try:
                entry_point.load()
            except Exception as exc:
                warn(f"the lzt plugin {entry_point.name!r} ({self.group}) failed to load and is left out: {exc}")

    def names(self) -> list[str]:
        """Every registered name, plugins included: the `first` built-ins, then the rest in order."""
        self._load_plugins()
        rank = {name: i for i, name in enumerate(self.first)}
        return sorted(self._entries, key=lambda name: rank.get(name, len(rank)))

    def get(self, name: str) -> T:
        if name not in self._entries:
            self._load_plugins()
        if name not in self._entries:
            raise UsageError(f"unknown `{self.parameter}` {name!r} (choose from {', '.join(self.names())})")
        return self._entries[name]
