"""Agent events at the LMS: stored, shown, and handed on (``AgentEvents``)."""

from __future__ import annotations

from edge.lms.events.agent_events import AgentEvents

__all__ = ["AgentEvents"]
