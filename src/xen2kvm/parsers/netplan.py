"""Read-only netplan YAML reader (/etc/netplan/*.yaml).

Uses PyYAML's safe loader (no object construction) with aliases refused: netplan files do not
use them, and refusing them rules out "billion laughs" expansions when we walk the tree.
Malformed YAML becomes :class:`~xen2kvm.errors.ParseError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from xen2kvm.errors import ParseError

__all__ = ["NetplanConfig", "NetplanInterface", "parse"]

_DEVICE_KINDS = ("ethernets", "bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs")


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not accepted", event.start_mark
            )
        return super().compose_node(parent, index)


# YAML 1.1 reads 52:54:00:12:34:56 as a base-60 integer; netplan reads it as a string. Numbers
# are never needed here, so the int and float resolvers are dropped (booleans stay).
_NoAliasLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class NetplanInterface:
    """One device definition. ``id`` is the key under ``ethernets:`` etc."""

    kind: str
    id: str
    match_name: str | None = None
    match_mac: str | None = None
    set_name: str | None = None
    dhcp4: bool = False
    dhcp6: bool = False
    addresses: tuple[str, ...] = ()
    macaddress: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Interface names this definition applies to (``set-name`` or the id/match)."""
        if self.set_name:
            return (self.set_name,)
        if self.match_name or self.match_mac:
            return (self.match_name,) if self.match_name else ()
        return (self.id,)


@dataclass
class NetplanConfig:
    data: dict[str, Any]
    source: str = "<input>"
    renderer: str | None = None
    interfaces: list[NetplanInterface] = field(default_factory=list)


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() in ("true", "yes", "on"))


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def parse(text: str, source: str = "<netplan>") -> NetplanConfig:
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ParseError(
            f"invalid YAML: {exc.problem or exc.context}",
            source=source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise ParseError(f"invalid YAML: {type(exc).__name__}", source=source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParseError("top level is not a mapping", source=source)
    network = data.get("network")
    cfg = NetplanConfig(data, source)
    if network is None:
        return cfg
    if not isinstance(network, dict):
        raise ParseError("'network' is not a mapping", source=source)
    cfg.renderer = _str(network.get("renderer"))
    for kind in _DEVICE_KINDS:
        devs = network.get(kind)
        if devs is None:
            continue
        if not isinstance(devs, dict):
            raise ParseError(f"'network.{kind}' is not a mapping", source=source)
        for dev_id, spec in devs.items():
            spec = spec if isinstance(spec, dict) else {}
            match = spec.get("match")
            match = match if isinstance(match, dict) else {}
            addrs = spec.get("addresses")
            cfg.interfaces.append(
                NetplanInterface(
                    kind=kind,
                    id=str(dev_id),
                    match_name=_str(match.get("name")),
                    match_mac=_str(match.get("macaddress")),
                    set_name=_str(spec.get("set-name")),
                    dhcp4=_truthy(spec.get("dhcp4")),
                    dhcp6=_truthy(spec.get("dhcp6")),
                    addresses=tuple(str(a) for a in addrs) if isinstance(addrs, list) else (),
                    macaddress=_str(spec.get("macaddress")),
                )
            )
    return cfg
