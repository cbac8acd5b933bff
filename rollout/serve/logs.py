"""Structured logs: one JSON object per line on stderr, for the service and for uvicorn.

    log("evaluation", trigger="hook", flag="skills_rollout", action="rolled_back", ...)

Nothing secret is ever passed in: store URLs are logged as the store names them (without
password), tokens never.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

LOGGER = "rollout.serve"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": datetime.fromtimestamp(record.created, timezone.utc)
                .isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "event": getattr(record, "event", None)
                or record.getMessage()}
        if record.name != LOGGER:
            line["logger"] = record.name
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = " ".join(self.formatException(record.exc_info).split())[-2000:]
        return json.dumps(line, default=str)


# uvicorn's loggers go through the same formatter; its access log is off (the webhook
# records its own calls, and health checks every few seconds are noise).
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonLines}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        LOGGER: {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def log(event: str, level: int = logging.INFO, **fields) -> None:
    logging.getLogger(LOGGER).log(level, event, extra={"event": event, "fields": fields})


def configure() -> None:
    import logging.config

    logging.config.dictConfig(LOG_CONFIG)
