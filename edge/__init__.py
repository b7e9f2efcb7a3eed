"""Edge tiers of ClassTop Fleet: the site service (``edge.lms``) and the classroom PC agent (``edge.agent``)."""
