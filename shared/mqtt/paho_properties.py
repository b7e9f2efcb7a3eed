"""paho's MQTT 5 ``Properties``, with its lookup tables built once instead of for every packet.

paho 2.x decodes every MQTT 5 PUBLISH and PUBACK it receives into a new ``Properties``, whose constructor builds three
tables (27 property names, their types, the packets each applies to: ~60 dictionary and list operations) and whose
``unpack`` first "clears" the new, empty object by trying each of the 27 names. On the LMS that was ~20 µs of
CPU per agent answer and per PUBACK: the largest single item of a fan-out's cost after the system calls
(docs/architecture.md#the-on-site-round-trip-and-what-keeps-it-near-1-ms).

:class:`SharedTableProperties` is paho's class with the tables shared (read-only: paho only reads them) and a
``clear`` that deletes the properties the object holds (what paho's does, by another route). :func:`install` makes
paho's packet decoder build those; everything else about the objects (their type, attributes, ``pack``, ``unpack``,
``json``, equality of content) is paho's. If a paho release lacks a part this relies on, nothing is installed
(``tests/unit/shared/test_paho_properties.py`` says so, and checks both classes decode the same).
"""

from __future__ import annotations

from typing import Any

from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: the attributes paho's ``Properties`` keeps for itself (not properties)
_OWN = frozenset(("packetType", "types", "names", "properties"))
_TABLES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class SharedTableProperties(Properties):
    """paho's ``Properties`` with its tables built once (module docstring)."""

    def __init__(self, packetType: int) -> None:
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", _TABLES.types)
        object.__setattr__(self, "names", _TABLES.names)
        object.__setattr__(self, "properties", _TABLES.properties)

    def clear(self) -> None:
        for name in [n for n in vars(self) if n not in _OWN]:
            object.__delattr__(self, name)


def usable() -> bool:
    """Whether this paho decodes packets with a module-level ``Properties`` whose objects keep what they hold as
    attributes beside those four tables (what :class:`SharedTableProperties` relies on)."""
    probe: Any = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    found = getattr(_packet, "Properties", None)
    return found in (Properties, SharedTableProperties) and set(vars(probe)) == _OWN


def install() -> bool:
    """Have paho's decoder build :class:`SharedTableProperties` (idempotent). Returns whether it does."""
    if getattr(_packet, "Properties", None) is SharedTableProperties:
        return True
    if not usable():
        return False
    setattr(_packet, "Properties", SharedTableProperties)  # noqa: B010 (a name paho does not export)
    return True
