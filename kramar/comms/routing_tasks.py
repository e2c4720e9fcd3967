"""Huey jobs of the routing engine, SLA clocks and presence: they only call services. (Imported by
CommsConfig.ready(), so huey registers them beside the ingestion jobs in kramar.comms.tasks.)"""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from kramar.comms.presence import presence_idle_away
from kramar.comms.routing import conversations_unrouted_route, conversations_waiting_route, offers_expire
from kramar.comms.sla import sla_check


@db_periodic_task(crontab(minute="*"))
def expire_offers_task() -> int:
    """Every minute: offers not accepted in time go to the next agent."""
    return offers_expire()


@db_periodic_task(crontab(minute="*"))
def route_waiting_conversations_task() -> int:
    """Every minute: route conversations that never got a decision, and offer waiting ones to agents whose load
    has freed up."""
    return conversations_unrouted_route() + conversations_waiting_route()


@db_periodic_task(crontab(minute="*"))
def check_sla_task() -> dict:
    """Every minute: SLA warnings and breaches, each once."""
    return sla_check()


@db_periodic_task(crontab(minute="*"))
def mark_idle_agents_away_task() -> int:
    """Every minute: online agents without a heartbeat for KRAMAR_PRESENCE_AWAY_MINUTES become away."""
    return presence_idle_away()


@db_periodic_task(crontab(minute="17"))
def prune_live_events_task() -> int:
    """Hourly: live events older than a day are of no use to any browser."""
    from kramar.comms.live import events_prune

    return events_prune()


@db_periodic_task(crontab(minute="23"))
def prune_rate_counters_task() -> int:
    """Hourly: the web form's counters of windows long ended."""
    from kramar.comms.webforms import rate_counters_prune

    return rate_counters_prune()
