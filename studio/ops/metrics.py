"""The bot's Prometheus metrics: one registry, the metric objects, and small helpers to use them.

Each is moved where its event happens, through the helpers below: interactions in cogs/common
(answer path), votes in studio/review (after the commit), Notion requests in studio/notion/client
(one per attempt), cut builds at the end of studio/cut.build (published cuts only), gateway
reconnects in bot.py. Names as Prometheus shows them:
- slate_interactions_total{command,outcome}       outcome: ok | refused | error
- slate_interaction_latency_seconds{command}       histogram, answer time of an interaction
- slate_jobs{state,provider}                        gauge, refreshed from the job table at scrape
- slate_jobs_finished_total{provider,state}         state: succeeded | failed | cancelled
- slate_votes_total{action}                         action: cast | changed | removed
- slate_notion_requests_total{outcome}              outcome: ok | rate_limited | error
- slate_notion_rate_limited_total                   Notion answers of 429
- slate_cut_build_seconds                           histogram, time to build one published cut
- slate_gateway_reconnects_total                    gateway sessions resumed or re-identified
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

REGISTRY = CollectorRegistry(auto_describe=True)
# Process figures (RSS, CPU, open files) come with the registry: the soak report reads RSS here.
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

# Discord answers within 3 s or the user sees "This interaction failed": buckets cluster there.
_INTERACTION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
_CUT_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0)

INTERACTIONS = Counter(
    "slate_interactions", "Interactions answered, by command and outcome",
    ["command", "outcome"], registry=REGISTRY,
)
INTERACTION_LATENCY = Histogram(
    "slate_interaction_latency_seconds", "Time from receiving an interaction to answering it",
    ["command"], buckets=_INTERACTION_BUCKETS, registry=REGISTRY,
)
JOBS = Gauge(
    "slate_jobs", "Generation jobs in the database, by state and provider",
    ["state", "provider"], registry=REGISTRY,
)
JOBS_FINISHED = Counter(
    "slate_jobs_finished", "Generation jobs that reached an end state in this process",
    ["provider", "state"], registry=REGISTRY,
)
VOTES = Counter(
    "slate_votes", "Votes recorded, by action", ["action"], registry=REGISTRY,
)
NOTION_REQUESTS = Counter(
    "slate_notion_requests", "Requests to the Notion API, by outcome",
    ["outcome"], registry=REGISTRY,
)
NOTION_RATE_LIMITED = Counter(
    "slate_notion_rate_limited", "Notion answers of 429 rate_limited", registry=REGISTRY,
)
CUT_BUILD_SECONDS = Histogram(
    "slate_cut_build_seconds", "Time to build one cut", buckets=_CUT_BUCKETS, registry=REGISTRY,
)
GATEWAY_RECONNECTS = Counter(
    "slate_gateway_reconnects", "Gateway sessions resumed or identified again",
    registry=REGISTRY,
)


def count_interaction(command: str, outcome: str, seconds: float) -> None:
    """One answered interaction (outcome ok | refused | error) and its time to the answer."""
    INTERACTIONS.labels(command=command, outcome=outcome).inc()
    INTERACTION_LATENCY.labels(command=command).observe(seconds)


def count_votes(cast: int = 0, changed: int = 0, removed: int = 0) -> None:
    """Votes as stored (call after the transaction committed)."""
    for action, n in (("cast", cast), ("changed", changed), ("removed", removed)):
        if n:
            VOTES.labels(action=action).inc(n)


def count_notion(outcome: str) -> None:
    """One request to Notion (outcome ok | rate_limited | error)."""
    NOTION_REQUESTS.labels(outcome=outcome).inc()
    if outcome == "rate_limited":
        NOTION_RATE_LIMITED.inc()


def cut_built(seconds: float) -> None:
    CUT_BUILD_SECONDS.observe(seconds)


def gateway_reconnected() -> None:
    GATEWAY_RECONNECTS.inc()


def set_job_counts(counts: dict[tuple[str, str], int]) -> None:
    """Replace the jobs gauge with these counts, so a state that emptied shows no stale value."""
    JOBS.clear()
    for (state, provider), count in counts.items():
        JOBS.labels(state=state, provider=provider).set(count)


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
