"""What Home Assistant knows about the device that heard a request.

selflearn keys its learning by device and reads a little home state beside each turn (the
evaluation world records `area`, `media` and `lights`); this module gathers the same few
facts from Home Assistant's registries and states. It stays deliberately small: a turn event
is not a snapshot of the house.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homeassistant.const import STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)

from .const import ANONYMOUS_USER_ID, NO_DEVICE_ID

# Config entry domains of devices that are phones or tablets (the companion apps).
_PHONE_DOMAINS = frozenset({"mobile_app"})


@dataclass(slots=True)
class DeviceFacts:
    """The turn event's `device` record, plus the area for the request context."""

    id: str
    kind: str
    has_screen: bool
    area_id: str | None = None
    area_name: str | None = None
    state: dict[str, str] = field(default_factory=dict)

    def as_event_device(self) -> dict[str, object]:
        """The schema-v1 `device` object."""
        device: dict[str, object] = {
            "id": self.id,
            "kind": self.kind,
            "has_screen": self.has_screen,
        }
        if self.state:
            device["state"] = dict(self.state)
        return device


@callback
def async_describe_device(hass: HomeAssistant, device_id: str | None) -> DeviceFacts:
    """Describe the device that heard the request, and the state around it."""
    if device_id is None:
        # The Assist dialog, the conversation.process action, the REST API: typed text,
        # answered on a screen.
        return DeviceFacts(id=NO_DEVICE_ID, kind="other", has_screen=True)

    dev_reg = dr.async_get(hass)
    device = dev_reg.async_get(device_id)
    if device is None:
        return DeviceFacts(id=device_id, kind="speaker", has_screen=False)

    is_phone = any(
        (entry := hass.config_entries.async_get_entry(entry_id)) is not None
        and entry.domain in _PHONE_DOMAINS
        for entry_id in device.config_entries
    )
    facts = DeviceFacts(
        id=device_id,
        kind="phone" if is_phone else "speaker",
        has_screen=is_phone,
        area_id=device.area_id,
    )

    ent_reg = er.async_get(hass)
    own_entities = [e.entity_id for e in er.async_entries_for_device(ent_reg, device_id)]
    area_entities: list[str] = []
    if device.area_id is not None and (area := ar.async_get(hass).async_get_area(device.area_id)):
        facts.area_name = area.name
        facts.state["area"] = area.name
        area_entities = _entities_in_area(dev_reg, ent_reg, device.area_id)

    # The media player playing near the person changes what "stop" or "louder" means:
    # prefer the device's own player, then one in its area.
    if media := _first_state(hass, own_entities, "media_player") or _first_state(
        hass, area_entities, "media_player"
    ):
        facts.state["media"] = media
    if lights := _lights_summary(hass, area_entities):
        facts.state["lights"] = lights
    return facts


@callback
def async_user_id(context: Context, device_id: str | None) -> str:
    """The person speaking, as far as Home Assistant knows.

    Satellites rarely carry a user; then the device stands in for the person, which keeps
    each satellite's consecutive turns together (selflearn finds rephrasings per user).
    """
    if context.user_id:
        return context.user_id
    if device_id:
        return f"device:{device_id}"
    return ANONYMOUS_USER_ID


def _entities_in_area(
    dev_reg: dr.DeviceRegistry, ent_reg: er.EntityRegistry, area_id: str
) -> list[str]:
    """Entities placed in the area directly or through their device (as Home Assistant does)."""
    entity_ids = [e.entity_id for e in er.async_entries_for_area(ent_reg, area_id)]
    for device in dr.async_entries_for_area(dev_reg, area_id):
        entity_ids.extend(
            e.entity_id
            for e in er.async_entries_for_device(ent_reg, device.id)
            if e.area_id is None
        )
    return sorted(set(entity_ids))


def _first_state(hass: HomeAssistant, entity_ids: list[str], domain: str) -> str | None:
    """The state of the first available entity of `domain` among `entity_ids`."""
    for entity_id in entity_ids:
        if not entity_id.startswith(f"{domain}."):
            continue
        state = hass.states.get(entity_id)
        if state is not None and state.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return state.state
    return None


def _lights_summary(hass: HomeAssistant, entity_ids: list[str]) -> str | None:
    """`on` when any light in the area is on, `off` when all are off, None without lights."""
    seen = False
    for entity_id in entity_ids:
        if not entity_id.startswith("light."):
            continue
        state = hass.states.get(entity_id)
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            continue
        if state.state == STATE_ON:
            return "on"
        seen = True
    return "off" if seen else None
