"""One ``/metrics`` for all processes: the workers' expositions added to the supervisor's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

MetricKey = tuple[str, tuple[tuple[str, str], ...]]


def _families(text: bytes) -> list[Metric]:
    return list(text_string_to_metric_families(text.decode("utf-8")))


_MERGED_TYPES = ("counter", "histogram", "summary", "gauge")


def _summed(family: Metric) -> bool:
    return family.name.startswith("gateway_") and family.type in ("counter", "histogram", "summary")


def _sample_key(sample: Any) -> MetricKey:
    return sample.name, tuple(sorted(sample.labels.items()))


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def merge_expositions(own: bytes, workers: Sequence[bytes], retired: Mapping[MetricKey, float]) -> bytes:
    """The supervisor's exposition with its workers' added up: ``gateway_*`` counters and
    histograms summed (plus ``retired``, the last figures of workers that died), ``gateway_*``
    gauges the largest value, everything else (``process_*``, ``gateway_build``) the supervisor's."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[MetricKey, Sample]] = {}
    for index, text in enumerate((own, *workers)):
        for family in _families(text):
            name = family.name
            if index > 0 and not (name.startswith("gateway_") and family.type in _MERGED_TYPES):
                continue
            if name not in families:
                families[name] = Metric(name, family.documentation, family.type, family.unit)
                values[name] = {}
            target, seen = families[name], values[name]
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # per process; a sum has no creation time of its own
                key = _sample_key(sample)
                have = seen.get(key)
                if have is None:
                    seen[key] = sample
                elif _summed(target):
                    seen[key] = have._replace(value=have.value + sample.value)
                elif target.type == "gauge" and name.startswith("gateway_"):
                    seen[key] = have._replace(value=max(have.value, sample.value))
    for key, value in retired.items():
        owner = next((n for n in families if _summed(families[n])
                      and key[0] in (n, f"{n}_total", f"{n}_bucket", f"{n}_count", f"{n}_sum")), None)
        if owner is None:
            continue
        have = values[owner].get(key)
        values[owner][key] = (have._replace(value=have.value + value) if have is not None
                             else Sample(key[0], dict(key[1]), value))
    for name, family in families.items():
        family.samples = list(values[name].values())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values())))
    return generate_latest(registry)


def counter_values(text: bytes) -> dict[MetricKey, float]:
    """The summed samples (``gateway_*`` counters and histograms) of one exposition."""
    out: dict[MetricKey, float] = {}
    for family in _families(text):
        if _summed(family):
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    out[_sample_key(sample)] = sample.value
    return out
