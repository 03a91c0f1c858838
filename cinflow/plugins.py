"""Finding and loading policy plugins.

Plugins are found the way datasette and llm find theirs: the ``cinflow``
entry-point group.  The entry-point name is the authority id and its value the
plugin module; cinflow's bundled policies are registered through cinflow's own
entry points, so bundled and third-party policies take the same path.

A plugin module exposes ``POLICY`` (a :class:`~cinflow.rules.PolicyInfo`) and
implements hooks from :mod:`cinflow.hookspecs`.  Each policy gets its own
plugin manager: the national baseline registered first, then any base layers
the policy ``extends``, then the policy's own module.

``CINFLOW_LOAD_PLUGINS=kent,wirral`` loads only those policies (the national
baseline always loads); ``CINFLOW_TRACE_PLUGINS=1`` prints every hook call to
stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import EntryPoint, entry_points, packages_distributions, version
from types import ModuleType

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownPolicyError

GROUP = "cinflow"
NATIONAL_MODULE = "cinflow.national"


def find_entry_points(only: str | None = None) -> dict[str, EntryPoint]:
    """Entry points of the ``cinflow`` group by name.  Two distributions
    claiming the same authority id is an error, never a silent override."""
    found: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, []).append(ep)
    for name, eps in found.items():
        values = {ep.value for ep in eps}
        if len(values) > 1:
            owners = sorted(f"{_dist_name(ep)} ({ep.value})" for ep in eps)
            raise PluginError(f"authority id {name!r} is claimed by more than one plugin: {', '.join(owners)}")
    chosen = {name: eps[0] for name, eps in found.items()}
    only = os.environ.get("CINFLOW_LOAD_PLUGINS") if only is None else only
    if only is not None:
        wanted = {n.strip() for n in only.split(",") if n.strip()} | {"england"}
        chosen = {n: ep for n, ep in chosen.items() if n in wanted}
    return chosen


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"


def plugin_manager(layers: list[ModuleType]) -> pluggy.PluginManager:
    """A fresh plugin manager with ``layers`` registered in order.  A hook
    implementation that matches no spec (a typo) fails here, at start-up."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for layer in layers:
        try:
            pm.register(layer, name=layer.__name__)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {layer.__name__}: {exc}") from None
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc}") from None
    if os.environ.get("CINFLOW_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda message: print(message, end="", file=sys.stderr))
        pm.enable_tracing()
    return pm


def call_hook(pm: pluggy.PluginManager, name: str, policy) -> list:
    """Call hook ``name`` of every layer for ``policy`` (a PolicyInfo) and
    return the answers as lists.  A hook implementation that raises, or
    answers with something other than a list, is a :class:`PluginError` of
    one line naming the policy, the plugin module and the hook."""
    caller = getattr(pm.hook, name)
    try:
        answers = caller(policy=policy)
    except Exception as exc:
        module = _raised_by(caller, exc)
        raise PluginError(f"policy {policy.id}: plugin module {module}'s hook {name} failed: "
                          f"{type(exc).__name__}: {_one_line(exc)}") from None
    out = []
    for answer in answers:
        if not isinstance(answer, (list, tuple)):
            module = _answered_by(caller, policy, answer)
            raise PluginError(f"policy {policy.id}: plugin module {module}'s hook {name} returned "
                              f"{_one_line(repr(answer))[:80]}, not a list")
        out.append(answer)
    return out


def _one_line(text) -> str:
    return " ".join(str(text).split()) or "(no message)"


def _impl_name(impl) -> str:
    return impl.plugin_name or getattr(impl.plugin, "__name__", repr(impl.plugin))


def _raised_by(caller, exc: BaseException) -> str:
    """The plugin whose implementation raised ``exc``: the outermost frame of
    its traceback that runs one of the hook's implementations."""
    import inspect

    codes = {}
    for impl in caller.get_hookimpls():
        codes[getattr(inspect.unwrap(impl.function), "__code__", None)] = impl
        codes[getattr(impl.function, "__code__", None)] = impl
    tb = exc.__traceback__
    while tb is not None:
        impl = codes.get(tb.tb_frame.f_code)
        if impl is not None:
            return _impl_name(impl)
        tb = tb.tb_next
    return "(unknown)"


def _answered_by(caller, policy, answer) -> str:
    """The plugin whose implementation gave ``answer`` (each asked again)."""
    args = {"policy": policy}
    for impl in caller.get_hookimpls():
        try:
            again = impl.function(*[args[a] for a in impl.argnames])
        except Exception:
            continue
        if again is answer or (type(again) is type(answer) and again == answer):
            return _impl_name(impl)
    return "(unknown)"


def import_module(path: str) -> ModuleType:
    try:
        return importlib.import_module(path)
    except ImportError as exc:
        raise PluginError(f"cannot import policy module {path!r}: {exc}") from None


class Registry:
    """The policies available here, by authority id; assembled on first use."""

    def __init__(self, entry_points: dict[str, EntryPoint] | None = None):
        self._entry_points = dict(entry_points or {})
        self._modules: dict[str, ModuleType] = {}
        self._policies: dict = {}

    @classmethod
    def load(cls, only: str | None = None) -> "Registry":
        """Every policy installed (bundled and third-party)."""
        return cls(find_entry_points(only))

    def add_module(self, module: ModuleType) -> None:
        """Register a policy module directly (tests, embedding)."""
        info = _policy_info(module)
        if info.id in self._entry_points or info.id in self._modules:
            raise PluginError(f"authority id {info.id!r} is already registered")
        self._modules[info.id] = module

    def ids(self) -> list[str]:
        return sorted(set(self._entry_points) | set(self._modules))

    def module(self, policy_id: str) -> ModuleType:
        if policy_id not in self._modules:
            ep = self._entry_points.get(policy_id)
            if ep is None:
                raise UnknownPolicyError(policy_id, self.ids())
            try:
                module = ep.load()
            except Exception as exc:  # a broken third-party plugin must not take the CLI down
                raise PluginError(f"policy {policy_id!r} ({ep.value}) failed to load: {exc}") from None
            info = _policy_info(module)
            if info.id != policy_id:
                raise PluginError(f"entry point {policy_id!r} loads {ep.value}, which declares id {info.id!r}")
            self._modules[policy_id] = module
        return self._modules[policy_id]

    def info(self, policy_id: str):
        return _policy_info(self.module(policy_id))

    def layers(self, policy_id: str) -> list[ModuleType]:
        module = self.module(policy_id)
        national = import_module(NATIONAL_MODULE)
        if module is national:
            return [national]
        bases = [import_module(path) for path in _policy_info(module).extends]
        return [national, *bases, module]

    def get(self, policy_id: str):
        """The assembled :class:`~cinflow.policy.Policy` for an authority id."""
        policy = self._policies.get(policy_id)
        if policy is None:
            from .policy import Policy

            layers = self.layers(policy_id)
            policy = Policy(self.info(policy_id), layers, plugin_manager(layers))
            self._policies[policy_id] = policy
        return policy

    __getitem__ = get

    def __contains__(self, policy_id: str) -> bool:
        return policy_id in self._entry_points or policy_id in self._modules

    def distribution(self, policy_id: str) -> str:
        ep = self._entry_points.get(policy_id)
        return _dist_name(ep) if ep is not None else "registered in-process"

    def distribution_of(self, module: ModuleType) -> str:
        """The installed distribution (name and version) that ships ``module``."""
        top = module.__name__.split(".")[0]
        names = packages_distributions().get(top, [])
        if not names:
            return "registered in-process"
        return ", ".join(f"{n} {version(n)}" for n in names)


def _policy_info(module: ModuleType):
    from .rules import PolicyInfo

    info = getattr(module, "POLICY", None)
    if not isinstance(info, PolicyInfo):
        raise PluginError(f"policy module {module.__name__} has no POLICY (a cinflow.rules.PolicyInfo)")
    return info
