"""How an incident is classified and prioritised: ITIL's category, service area, impact, urgency and priority."""

from __future__ import annotations

import enum


class Category(enum.StrEnum):
    HARDWARE = "hardware"
    SOFTWARE = "software"
    NETWORK = "network"
    SECURITY = "security"
    CAPACITY = "capacity"
    HUMAN_ERROR = "human_error"


class ServiceArea(enum.StrEnum):
    AVAILABILITY = "availability"
    INTEGRITY = "integrity"
    CONFIDENTIALITY = "confidentiality"


class Level(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Priority(enum.StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"
