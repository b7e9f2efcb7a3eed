"""JSON Schema documents as validators read them: fixes to what pydantic writes, shared by the LMS's and the cloud's
OpenAPI documents (issue 17: a request the document allows is one the server accepts)."""

from __future__ import annotations

from typing import Any


def require_discriminator_tags(schemas: dict[str, Any]) -> None:
    """Make each discriminated union's tag required in every member it maps to.

    pydantic writes a member whose tag has a default (``kind: Literal["x"] = "x"``) with the tag optional, but a
    discriminated union needs the tag to pick the member: a body without it is refused ("Unable to extract tag").
    ``schemas`` is the document's ``components/schemas``; its members are named by ``$ref``s into it."""
    stack: list[Any] = list(schemas.values())
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        discriminator = node.get("discriminator")
        if isinstance(discriminator, dict):
            tag = discriminator.get("propertyName")
            for ref in (discriminator.get("mapping") or {}).values():
                member = schemas.get(str(ref).rsplit("/", 1)[-1])
                if isinstance(member, dict) and tag not in member.get("required", []):
                    member["required"] = [*member.get("required", []), tag]
        stack.extend(node.values())
