"""Reading the deployment files (Dockerfile, docker-compose.yml, deploy/) the way their tests
need: which environment variables Tally reads, which ones the production settings require,
which metric names a Grafana dashboard asks for.

The lists are derived from the code, never kept by hand, so a new setting or metric shows
up in the tests without editing them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

BASE_DIR = Path(__file__).resolve().parents[3]
COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
DOCKERFILE = BASE_DIR / "Dockerfile"
ENTRYPOINT = BASE_DIR / "deploy" / "docker-entrypoint.sh"
ENV_EXAMPLE = BASE_DIR / ".env.example"
PROMETHEUS_FILE = BASE_DIR / "deploy" / "prometheus.yml"
HAPROXY_FILE = BASE_DIR / "deploy" / "haproxy" / "haproxy.cfg"
GRAFANA_DIR = BASE_DIR / "deploy" / "grafana"

# Read by libraries rather than by Tally's settings: Django (the settings module) and
# prometheus_client (where gunicorn's workers share their metrics).
LIBRARY_ENVIRONMENT_NAMES = frozenset({"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"})

_ENV_CALL = re.compile(
    r"\benv\.(?:str|int|bool|float|list|json|url|db_url|email_url)\(\s*\"([A-Z][A-Z0-9_]*)\""
    r"(?P<rest>[^)]*)\)"
)
_OS_ENVIRON = re.compile(r"os\.environ(?:\.get|\.setdefault)?[(\[]\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
_SHELL_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
_COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)")
_ENV_EXAMPLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# prometheus_client's metrics, and the families a scrape-time collector yields.
_METRIC_DEFINITION = re.compile(
    r"(?:Counter|Histogram|Gauge|Summary)(?:MetricFamily)?\(\s*[\"']([a-z_:][a-z0-9_:]*)[\"']"
)
_DJANGO_PROMETHEUS_NAME = re.compile(r"[\"'](django_[a-z0-9_]+)[\"']")
_PROMQL_IDENTIFIER = re.compile(r"\b([a-z_:][a-z0-9_:]*)\b(?=\s*(?:\{|\[|\)|$))")
# Suffixes prometheus_client adds to a family's samples.
_SAMPLE_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def settings_environment_names() -> set[str]:
    """Every environment variable Tally reads: its settings (``config/``), the image's
    entrypoint, and the few that libraries read."""
    names = set(LIBRARY_ENVIRONMENT_NAMES)
    for path in (BASE_DIR / "config").rglob("*.py"):
        text = path.read_text()
        names.update(match.group(1) for match in _ENV_CALL.finditer(text))
        names.update(_OS_ENVIRON.findall(text))
    names.update(_SHELL_VARIABLE.findall(ENTRYPOINT.read_text()))
    return names


def production_required_names() -> set[str]:
    """Settings the production settings refuse to start without: ``env.*("NAME")`` with no
    default in ``config/django/production.py``, plus the two server URLs (production never
    starts embedded servers)."""
    text = (BASE_DIR / "config" / "django" / "production.py").read_text()
    required = {
        match.group(1) for match in _ENV_CALL.finditer(text) if "default" not in match["rest"]
    }
    return required | {"DATABASE_URL", "REDIS_URL"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def compose_variables() -> set[str]:
    """Variables docker-compose.yml interpolates (``${NAME}``; ``$$`` is a literal ``$``)."""
    return set(_COMPOSE_VARIABLE.findall(COMPOSE_FILE.read_text().replace("$$", "")))


def env_example_names() -> set[str]:
    """Names ``.env.example`` lists, set or commented out (``# NAME=value``)."""
    return set(_ENV_EXAMPLE_LINE.findall(ENV_EXAMPLE.read_text()))


def tally_services(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run Tally's image (web replicas, worker, beat, migrate)."""
    return {
        name: service
        for name, service in stack["services"].items()
        if str(service.get("image", "")).startswith("${TALLY_IMAGE")
    }


def web_services(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in tally_services(stack).items()
        if service.get("command") == ["web"]
    }


def dashboards() -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text()) for path in sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
    ]


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_panels(panel.get("panels", [])))
    return found


def dashboard_expressions(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


_PROMQL_WORDS = frozenset(
    {
        "sum", "by", "without", "rate", "irate", "increase", "histogram_quantile", "topk",
        "bottomk", "max", "min", "avg", "count", "on", "ignoring", "group_left", "group_right",
        "and", "or", "unless", "le", "abs", "clamp_min", "clamp_max", "delta", "deriv",
    }
)  # fmt: skip


def expression_metric_names(expression: str) -> set[str]:
    """Metric names a PromQL expression reads: identifiers followed by a selector, a range,
    a closing parenthesis or the end, that are neither functions nor label names."""
    without_selectors = re.sub(r"\{[^}]*\}", "{}", expression)
    without_groupings = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", without_selectors)
    return {
        name
        for name in _PROMQL_IDENTIFIER.findall(without_groupings)
        if name not in _PROMQL_WORDS and not name.isdigit()
    }


def metric_family(sample_name: str) -> str:
    """The family a sample belongs to (``tally_orders_total`` → ``tally_orders``)."""
    for suffix in _SAMPLE_SUFFIXES:
        if sample_name.endswith(suffix):
            return sample_name[: -len(suffix)]
    return sample_name


def code_metric_families() -> set[str]:
    """Families Tally's code defines (prometheus_client ``Counter("…")`` and friends) and
    the ones django-prometheus defines, by family name."""
    import django_prometheus

    names: set[str] = set()
    for path in (BASE_DIR / "tally").rglob("*.py"):
        if "tests" not in path.parts:
            names.update(_METRIC_DEFINITION.findall(path.read_text()))
    for path in Path(django_prometheus.__file__).parent.rglob("*.py"):
        names.update(_DJANGO_PROMETHEUS_NAME.findall(path.read_text()))
    return {metric_family(name) for name in names}
