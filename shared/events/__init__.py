"""The event contract in code: CloudEvents envelopes, event types and topics of every service."""

from . import assist, intake, reporting, roster
from .envelope import (
    Event,
    EventCodec,
    EventData,
    RejectedMessageError,
    UnknownEvent,
    encode_headers,
    envelope_from_kafka,
)

ALL_EVENT_TYPES = roster.EVENT_TYPES + assist.EVENT_TYPES + reporting.EVENT_TYPES + intake.EVENT_TYPES
TOPICS = {roster.TOPIC: roster.EVENT_TYPES, assist.TOPIC: assist.EVENT_TYPES,
          reporting.TOPIC: reporting.EVENT_TYPES, intake.TOPIC: intake.EVENT_TYPES}


def dead_letter_topic(topic: str) -> str:
    """Where a consumer of `topic` sends what it cannot accept."""
    return f"{topic}.dlt"


__all__ = [
    "ALL_EVENT_TYPES", "TOPICS", "Event", "EventCodec", "EventData", "RejectedMessageError",
    "UnknownEvent", "assist", "dead_letter_topic", "encode_headers", "envelope_from_kafka",
    "intake", "reporting", "roster",
]
