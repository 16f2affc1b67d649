"""Structured logs: one JSON line per event with ECS field names, or a console format in dev.

Both structlog loggers and the standard library's (``logging.getLogger("loadbay…")``,
uvicorn) go through the same processors, so every line has the same shape. Secrets are
redacted before rendering; JSON escapes CR/LF, and the console renderer gets them escaped
explicitly, so a user value can never start a forged line.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from typing import Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "console"]
ECS_VERSION = "8.11.0"
REDACTED = "[redacted]"

# Field names whose values are credentials whatever they hold.
_SECRET_NAMES = re.compile(r"authorization|api[_-]?key|password|secret|token|cookie", re.I)
# Key material (see loadbay.security.keys) wherever it appears inside a string.
_KEY_MATERIAL = re.compile(r"lbk_[A-Za-z0-9_-]{8,}")
# Renamed to their ECS names; everything else keeps the name it was logged with.
_ECS_NAMES = {"event": "message", "level": "log.level", "logger": "log.logger"}


@functools.lru_cache(maxsize=4096)
def _is_secret_name(key: str) -> bool:
    # Field names are few and repeat on every line: decided once each, not by a regex search
    # per field per line (the access line alone has a dozen fields).
    return key != "event" and _SECRET_NAMES.search(key) is not None


def redact_secrets(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    for key, value in list(event.items()):
        if _is_secret_name(key):
            event[key] = REDACTED
        elif isinstance(value, str) and "lbk_" in value:  # the substitution's own prefix
            event[key] = _KEY_MATERIAL.sub("lbk_" + REDACTED, value)
    return event


def _ecs_names(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    # uvicorn adds "color_message", the same text with terminal escapes: noise in JSON.
    event.pop("color_message", None)
    renamed = {_ECS_NAMES.get(key, key): value for key, value in event.items()}
    renamed["ecs.version"] = ECS_VERSION
    return renamed


def _escape_line_breaks(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = value.replace("\r", "\\r").replace("\n", "\\n")
    return event


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (test capture replaces it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="@timestamp"),
        structlog.stdlib.ExtraAdder(),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


def configure_logging(*, level: str, fmt: LogFormat) -> None:
    """Route structlog and standard logging to stdout in ``fmt``; safe to call again."""
    renderer: list[Processor]
    if fmt == "json":
        renderer = [_ecs_names, structlog.processors.JSONRenderer()]
    else:
        renderer = [_escape_line_breaks, structlog.dev.ConsoleRenderer(colors=False)]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # loadbay writes its own access line (with ECS fields); uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
