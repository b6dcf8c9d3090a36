"""Which integration class serves which broker code.

Integration modules register their classes with `@register(...)`; `integration_class` imports
every module of the `brokers` package once, so adding a broker is a catalogue entry plus a
module with a registered class — no list or `if` chain to extend.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any

from wealth_pipeline import brokers
from wealth_pipeline.brokers.base import BrokerConfig, BrokerIntegrationBase, IntegrationContext

_classes: dict[str, type[BrokerIntegrationBase]] = {}
_discovered = False


def register(*codes: str) -> Callable[[type[BrokerIntegrationBase]], type[BrokerIntegrationBase]]:
    def decorate(cls: type[BrokerIntegrationBase]) -> type[BrokerIntegrationBase]:
        for code in codes:
            if code in _classes and _classes[code] is not cls:
                raise ValueError(
                    f"broker code {code!r} is served by {_classes[code].__name__} already"
                )
            _classes[code] = cls
        cls.codes = tuple(codes)
        return cls

    return decorate


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    for module in pkgutil.iter_modules(brokers.__path__):
        importlib.import_module(f"{brokers.__name__}.{module.name}")
    _discovered = True


def registered_codes() -> list[str]:
    _discover()
    return sorted(_classes)


def integration_class(code: str) -> type[BrokerIntegrationBase]:
    _discover()
    try:
        return _classes[code]
    except KeyError:
        raise LookupError(f"no integration serves broker {code!r}") from None


def build_integration(
    broker: BrokerConfig | Mapping[str, Any],
    credentials: Mapping[str, Any],
    context: IntegrationContext | None = None,
) -> BrokerIntegrationBase:
    config = broker if isinstance(broker, BrokerConfig) else BrokerConfig.from_row(broker)
    return integration_class(config.code)(config, credentials, context)


def configuration_problems(
    broker: BrokerConfig | Mapping[str, Any], context: IntegrationContext
) -> list[str]:
    """What this machine lacks to sync accounts at `broker` (empty: ready, or no integration)."""
    config = broker if isinstance(broker, BrokerConfig) else BrokerConfig.from_row(broker)
    try:
        cls = integration_class(config.code)
    except LookupError:
        return []
    return cls.configuration_problems(config, context)
