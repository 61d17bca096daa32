"""Karl's Prometheus metrics (GET /metrics), in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

QUEUED = Gauge("karl_queued_recipients", "Recipients waiting in the spool (queued or deferred)",
               registry=REGISTRY)
IN_FLIGHT = Gauge("karl_in_flight_recipients", "Recipients being delivered now",
                  registry=REGISTRY)
OUTCOMES = Counter("karl_deliveries", "Delivery outcomes per relay",
                   ["relay", "state"], registry=REGISTRY)
LATENCY = Histogram("karl_delivery_seconds", "Time to deliver one batch, per recipient outcome",
                    ["relay"], registry=REGISTRY,
                    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
RELAY_HEALTHY = Gauge("karl_relay_healthy", "1 when the relay is healthy", ["relay"],
                      registry=REGISTRY)
JOBS = Counter("karl_jobs_accepted", "Jobs accepted", ["kind"], registry=REGISTRY)
JOBS_REPLAYED = Counter("karl_jobs_replayed", "Submissions answered with the job their "
                        "Idempotency-Key already named", ["kind"], registry=REGISTRY)
EVENTS_PENDING = Gauge("karl_events_pending", "Delivery events not yet taken by messageserver",
                       registry=REGISTRY)
