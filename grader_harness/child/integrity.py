"""The integrity snapshot: pytest's and pluggy's modules and classes, the plugin registry, the hook
implementations and the collected test items, taken before learner code runs and compared before each
test module is executed and before each result is sent, so patching the reporting machinery is reported."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

# Module attributes pytest itself rebinds while tests run (saved and restored around each test).
VOLATILE = {
    "_pytest.assertion.util": {"_reprcompare", "_assertion_pass", "_config"},
    "_pytest.assertion.rewrite": {"_reprcompare", "_assertion_pass"},
    "builtins": {"input", "print", "open", "_", "help", "exit", "quit", "copyright", "credits", "license"},
}
WATCHED_HOOKS = (
    "pytest_runtest_protocol", "pytest_runtest_makereport", "pytest_runtest_logreport",
    "pytest_pyfunc_call", "pytest_runtest_call", "pytest_report_teststatus", "pytest_sessionfinish",
)


class Integrity:
    """Snapshots pytest's and pluggy's machinery and says what changed since."""

    def __init__(self) -> None:
        self.modules: dict[str, types.ModuleType] = {}
        self.entries: list[tuple[str, Any, str, Any]] = []
        self.plugins: set[int] | None = None
        self.hooks: dict[str, list[tuple[str, Any]]] = {}
        self.items: list[tuple[pytest.Item, Any]] = []

    def take(self) -> None:
        self.modules = {name: mod for name, mod in sys.modules.items() if isinstance(mod, types.ModuleType)}
        for name, module in self.modules.items():
            if not (name in ("builtins", "pytest", "_pytest", "pluggy") or name.startswith(("_pytest.", "pluggy."))):
                continue
            volatile: set[str] | tuple[()] = VOLATILE.get(name, ())
            namespace = module.__dict__
            for attr, value in list(namespace.items()):
                if attr in volatile or (attr.startswith("__") and attr.endswith("__") and attr != "__import__"):
                    continue
                self.entries.append((name, namespace, attr, value))
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    for member, item in list(value.__dict__.items()):
                        if member not in ("__dict__", "__weakref__", "__doc__", "__abstractmethods__", "_abc_impl"):
                            self.entries.append((f"{name}.{attr}", value.__dict__, member, item))

    def take_items(self, items: list[pytest.Item]) -> None:
        """Each collected test's function, and that no instance overrides how it runs."""
        self.items = [(item, item.__dict__.get("_obj")) for item in items]

    def take_plugins(self, config: pytest.Config) -> None:
        manager = config.pluginmanager
        self.plugins = {id(p) for p in manager.get_plugins()}
        self.hooks = {name: self._impls(config, name) for name in WATCHED_HOOKS}

    @staticmethod
    def _impls(config: pytest.Config, name: str) -> list[tuple[str, Any]]:
        return [(impl.plugin_name, impl.function) for impl in getattr(config.hook, name).get_hookimpls()]

    def changes(self, config: pytest.Config | None = None) -> list[str]:
        missing = object()
        found = []
        current = sys.modules
        for name, module in self.modules.items():
            replacement = current.get(name, module)
            if replacement is not module:
                found.append(f"sys.modules[{name!r}] replaced")
        for owner, namespace, attr, value in self.entries:
            if namespace.get(attr, missing) is not value:
                found.append(f"{owner}.{attr} changed")
        if config is not None and self.plugins is not None:
            if {id(p) for p in config.pluginmanager.get_plugins()} != self.plugins:
                found.append("pytest's plugin registry changed")
            for name, impls in self.hooks.items():
                if self._impls(config, name) != impls:
                    found.append(f"hook implementations of {name} changed")
        for item, function in self.items:
            if "runtest" in item.__dict__ or item.__dict__.get("_obj") is not function:
                found.append(f"test item {item.name} was altered")
        return found

