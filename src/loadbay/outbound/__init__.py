"""Outbound HTTP: the one client every feature that calls other servers goes through."""

from loadbay.outbound.client import OutboundClient
from loadbay.outbound.errors import OutboundError, OutboundRefused

__all__ = ["OutboundClient", "OutboundError", "OutboundRefused"]
