"""smtpd's Prometheus metrics."""

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry()
SESSIONS = Counter("smtpd_sessions_total", "SMTP sessions opened", registry=REGISTRY)
ACTIVE = Gauge("smtpd_sessions_active", "SMTP sessions open now", registry=REGISTRY)
ACCEPTED = Counter("smtpd_messages_accepted_total", "Messages answered 250", registry=REGISTRY)
REJECTED = Counter("smtpd_rejected_total", "Refusals, by reason", ["reason"], registry=REGISTRY)
