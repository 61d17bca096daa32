"""messageserver's Prometheus metrics, in one registry served at /metrics."""

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
INBOUND = Counter("messageserver_inbound_total", "Messages handled per recipient, by outcome",
                  ["outcome"], registry=REGISTRY)
POSTS = Counter("messageserver_web_posts_total", "Web posts, by outcome", ["outcome"],
                registry=REGISTRY)
FANOUT = Histogram("messageserver_fanout_recipients", "Recipients per fan-out job",
                   buckets=(1, 10, 100, 1000, 10000, 100000), registry=REGISTRY)
DELIVERY_EVENTS = Counter("messageserver_delivery_events_total", "Delivery events from Karl",
                          ["state"], registry=REGISTRY)
OUTBOX_REFUSED = Counter("messageserver_outbox_refused_total",
                         "Outbox items Karl refused (platform bugs; reported and retried)",
                         ["kind"], registry=REGISTRY)
