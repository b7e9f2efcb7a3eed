"""``shared.mqtt.paho_properties``: paho's MQTT 5 ``Properties`` with its tables built once decodes, packs, clears and
refuses exactly as paho's own, for every property of every packet type; the installed paho has what it relies on, and
once installed, paho's packet decoder builds it."""

from __future__ import annotations

from typing import Any, cast

import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MQTTException
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shared.mqtt import paho_properties
from shared.mqtt.paho_properties import SharedTableProperties

#: a value of each of paho's property types (index into ``Properties.types``)
SAMPLE = {0: 1, 1: 300, 2: 70000, 3: 16384, 4: b"\x00\xffdata", 5: "text \u00e9", 6: ("key", "value \u4e2d")}
#: values paho checks the range of
IN_RANGE = {"ReceiveMaximum": 20, "TopicAlias": 3, "TopicAliasMaximum": 10, "MaximumPacketSize": 4096,
            "SubscriptionIdentifier": 5, "RequestResponseInformation": 1, "RequestProblemInformation": 0,
            "PayloadFormatIndicator": 1}  # fmt: skip
PACKET_TYPES = [*PacketTypes.indexes, PacketTypes.WILLMESSAGE]


def filled(cls: type[Properties], packet_type: int) -> Properties:
    """Every property that applies to ``packet_type``, set (two of those that may repeat)."""
    props: Any = cls(packet_type)
    for name, ident in props.names.items():
        kind, packets = props.properties[ident]
        if packet_type not in packets:
            continue
        compressed = name.replace(" ", "")
        setattr(props, compressed, IN_RANGE.get(compressed, SAMPLE[kind]))
        if props.allowsMultiple(compressed):
            setattr(props, compressed, IN_RANGE.get(compressed, SAMPLE[kind]))
    return cast(Properties, props)  # a ``cls``, typed Any above for its dynamic property attributes


def as_seen(props: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(props).items() if k not in ("types", "names", "properties")}


def test_the_installed_paho_has_what_it_relies_on() -> None:
    assert paho_properties.usable()  # installed already (another test made a client) or not


@pytest.mark.parametrize("packet_type", PACKET_TYPES)
def test_every_property_packs_and_decodes_as_paho_does(packet_type: int) -> None:
    packed = filled(Properties, packet_type).pack()  # type: ignore[no-untyped-call]
    assert packed == filled(SharedTableProperties, packet_type).pack()  # type: ignore[no-untyped-call]
    theirs: Any = Properties(packet_type)  # type: ignore[no-untyped-call]
    ours: Any = SharedTableProperties(packet_type)
    assert theirs.unpack(packed)[1] == ours.unpack(packed)[1]
    assert as_seen(ours) == as_seen(theirs) and ours.json() == theirs.json() and str(ours) == str(theirs)
    assert ours.isEmpty() == theirs.isEmpty()
    ours.clear()
    theirs.clear()
    assert as_seen(ours) == as_seen(theirs) == {"packetType": packet_type} and ours.isEmpty()
    assert ours.unpack(packed)[0].json() == theirs.unpack(packed)[0].json()  # again, after clear: the same


def test_refusals_are_paho_s() -> None:
    for cls in (Properties, SharedTableProperties):
        props: Any = cls(PacketTypes.PUBACK)
        with pytest.raises(MQTTException, match="does not apply"):
            props.TopicAlias = 3
        with pytest.raises(MQTTException, match="must be one of"):
            props.NoSuchProperty = 1
        twice = b"\x04\x01\x01\x01\x00"  # PayloadFormatIndicator twice: not allowed
        with pytest.raises(MQTTException, match="more than once"):
            cls(PacketTypes.PUBLISH).unpack(twice)  # type: ignore[no-untyped-call]
    # the tables are shared, never written: an object's properties stay its own
    a: Any = SharedTableProperties(PacketTypes.PUBLISH)
    b: Any = SharedTableProperties(PacketTypes.PUBLISH)
    a.ContentType = "x"
    assert not hasattr(b, "ContentType") and a.names is b.names


def test_once_installed_paho_decodes_into_it() -> None:
    assert paho_properties.install() and paho_properties.install()  # idempotent
    publish = b"\x00\x03a/b" + b"\x00\x07" + b"\x02\x01\x00" + b"payload"  # topic, mid 7, props, payload
    packet = _packet.decode_publish(0x32, publish, MQTTProtocolVersion.MQTTv5)
    assert type(packet.properties) is SharedTableProperties and packet.payload == b"payload" and packet.mid == 7
    assert packet.properties.json() == {"PayloadFormatIndicator": 0}  # type: ignore[no-untyped-call]  # paho
