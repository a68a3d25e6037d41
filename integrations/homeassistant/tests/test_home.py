"""The device record: kind, area and the few states around it."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.selflearn.const import NO_DEVICE_ID
from custom_components.selflearn.home import async_describe_device

from .common import Home


async def test_a_satellite_in_an_area_reports_area_media_and_lights(
    hass: HomeAssistant, home: Home
) -> None:
    """Lights follow the area's lights; media the device's own player."""
    hass.states.async_set(home.light_entity_id, "on")
    facts = async_describe_device(hass, home.satellite_id)
    assert (facts.kind, facts.has_screen) == ("speaker", False)
    assert facts.state == {"area": "Kitchen", "media": "playing", "lights": "on"}


async def test_a_companion_app_is_a_phone_and_a_device_without_area_has_no_area_state(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """mobile_app devices have screens; without an area only the device's own player counts."""
    app_entry = MockConfigEntry(domain="mobile_app")
    app_entry.add_to_hass(hass)
    phone = device_registry.async_get_or_create(
        config_entry_id=app_entry.entry_id, identifiers={("mobile_app", "phone-1")}
    )
    player = entity_registry.async_get_or_create(
        "media_player", "mobile_app", "phone-1-player", device_id=phone.id
    )
    hass.states.async_set(player.entity_id, "unavailable")

    facts = async_describe_device(hass, phone.id)

    assert (facts.id, facts.kind, facts.has_screen) == (phone.id, "phone", True)
    assert facts.area_id is None
    assert facts.state == {}
    assert facts.as_event_device() == {"id": phone.id, "kind": "phone", "has_screen": True}


async def test_unknown_and_missing_devices(hass: HomeAssistant) -> None:
    """A device id the registry lacks is still the id; no device at all is the Assist UI."""
    assert async_describe_device(hass, "gone").as_event_device() == {
        "id": "gone",
        "kind": "speaker",
        "has_screen": False,
    }
    assert async_describe_device(hass, None).id == NO_DEVICE_ID
