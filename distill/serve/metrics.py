"""The server's Prometheus metrics (``GET /metrics``), in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


class ServeMetrics:
    """Requests, latency, batch sizes, per-language texts and confidence, cache hits, adapters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("distill_requests", "HTTP requests", ["endpoint", "status"], registry=r)
        self.latency = Histogram(
            "distill_request_seconds", "Request latency", ["endpoint"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_size = Histogram(
            "distill_batch_rows", "Rows per forward", buckets=BATCH_BUCKETS, registry=r
        )
        self.texts = Counter(
            "distill_texts", "Texts answered, by language and route", ["lang", "route"], registry=r
        )
        self.confidence = Histogram(
            "distill_confidence", "Top-class probability", ["lang"], buckets=CONFIDENCE_BUCKETS, registry=r
        )
        self.cache = Counter("distill_cache", "Response cache lookups", ["result"], registry=r)
        self.detected = Counter(
            "distill_lang_detected", "Languages detected for texts without lang", ["lang"], registry=r
        )
        self.adapter = Gauge(
            "distill_adapter_active", "1 for the active adapter version", ["lang", "version"], registry=r
        )
        self.drift = Gauge(
            "distill_drift_psi", "PSI of the recent window vs the reference", ["lang", "feature"], registry=r
        )
        self.drift_flag = Gauge(
            "distill_drift_flag",
            "1 when a language's drift score is over the threshold",
            ["lang"],
            registry=r,
        )
        self.admin = Counter("distill_admin", "Admin operations", ["action", "status"], registry=r)

    def set_active(self, active: dict[str, str], versions: dict[str, list[str]]) -> None:
        for lang, vs in versions.items():
            for v in vs:
                self.adapter.labels(lang=lang, version=v).set(1.0 if active.get(lang) == v else 0.0)
