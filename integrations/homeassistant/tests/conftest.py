"""Fixtures: a fake selflearn service, a small home, and the integration set up against it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from aiohttp import web
import pytest

from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockPlatform,
    mock_platform,
)

from .common import FakeSelflearn, Home, KitchenLight


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/selflearn in every test."""


@pytest.fixture
async def selflearn(socket_enabled: None) -> AsyncGenerator[FakeSelflearn, None]:
    """A running fake selflearn service on 127.0.0.1."""
    fake = FakeSelflearn()
    runner = web.AppRunner(fake.app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    fake.release()
    await runner.cleanup()


@pytest.fixture
async def home(
    hass: HomeAssistant,
    area_registry: ar.AreaRegistry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> Home:
    """Set up the built-in agent's pieces and a kitchen with a real light entity."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "intent", {})

    async def _setup_platform(
        hass: HomeAssistant,
        config: dict[str, Any],
        async_add_entities: AddEntitiesCallback,
        discovery_info: Any = None,
    ) -> None:
        async_add_entities([KitchenLight()])

    mock_platform(hass, "test.light", MockPlatform(async_setup_platform=_setup_platform))
    assert await async_setup_component(hass, "light", {"light": {"platform": "test"}})
    assert await async_setup_component(hass, "conversation", {})
    await hass.async_block_till_done()

    kitchen = area_registry.async_get_or_create("Kitchen")
    light_id = entity_registry.async_get_entity_id("light", "test", "kitchen_light")
    assert light_id is not None
    entity_registry.async_update_entity(light_id, area_id=kitchen.id)

    satellite_entry = MockConfigEntry(domain="test")
    satellite_entry.add_to_hass(hass)
    satellite = device_registry.async_get_or_create(
        config_entry_id=satellite_entry.entry_id,
        identifiers={("test", "kitchen-satellite")},
        name="Kitchen satellite",
    )
    device_registry.async_update_device(satellite.id, area_id=kitchen.id)
    player = entity_registry.async_get_or_create(
        "media_player", "test", "kitchen-satellite-player", device_id=satellite.id
    )
    hass.states.async_set(player.entity_id, "playing")
    await hass.async_block_till_done()
    return Home(light_id, satellite.id, player.entity_id, kitchen.id)
