"""`mlgov challenger status`: which variant of an endpoint is the challenger (the monitor is told by its execution)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgov_runtime.challenger.logic import container_packages, variant_weights


def challenger_variants(
    endpoint: Mapping[str, Any], config: Mapping[str, Any], models: Mapping[str, Mapping[str, Any]], package: str | None
) -> tuple[str, str, str | None]:
    """(production variant, challenger variant, the challenger's package) of an endpoint with two variants:
    the challenger serves `package` when given, else it is the variant with the smaller weight."""
    name = endpoint.get("EndpointName")
    weights = variant_weights(endpoint)
    variants = [v for v in config.get("ProductionVariants", []) if v.get("ModelName")]
    if len(variants) != 2:
        count = f"{len(variants)} production variant{'' if len(variants) == 1 else 's'}"
        raise ValueError(f"endpoint {name} has {count} with a model; a challenger needs 2")
    serving = {str(v["VariantName"]): container_packages(models[str(v["ModelName"])]) for v in variants}
    if package:
        match = [v for v, pkgs in serving.items() if any(package == p or p.endswith(package) for p in pkgs)]
        if len(match) != 1:
            raise ValueError(f"no variant of endpoint {name} serves {package}")
        challenger = match[0]
    else:
        configured = {str(v["VariantName"]): float(v.get("InitialVariantWeight", 1)) for v in variants}
        challenger = min(serving, key=lambda v: weights.get(v, configured[v]))
    production = next(v for v in serving if v != challenger)
    packages = serving[challenger]
    return production, challenger, packages[0] if packages else None
