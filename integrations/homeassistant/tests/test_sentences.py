"""Learned rewrites exported as custom sentences: parsing, hassil, and the real built-in agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hassil import Intents, recognize
from hassil.intents import TextSlotList
from hassil.util import merge_dict
from home_assistant_intents import get_intents
import pytest
import yaml

from homeassistant.components import conversation
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import intent
from homeassistant.setup import async_setup_component

from custom_components.selflearn import export
from custom_components.selflearn.const import DOMAIN, SERVICE_EXPORT_SENTENCES
from custom_components.selflearn.export import (
    SKIP_NOT_PLAIN,
    SKIP_TARGET_NOT_UNDERSTOOD,
    SKIP_UNDERSTOOD,
    SKIP_VALIDATION,
)
from custom_components.selflearn.sentences import (
    HEADER,
    Entry,
    Frame,
    RulesError,
    build_document,
    dump_document,
    frame_of,
    is_understood,
    parse_rules,
    sentence_of,
)

from .common import Home

MISHEARD = "turn of the kitchen light"
MEANT = "turn on the kitchen light"
EXPORT_FILE = "custom_sentences/en/selflearn.yaml"


def _rules(*pairs: tuple[str, str]) -> bytes:
    return json.dumps([{"source": s, "target": t} for s, t in pairs]).encode()


# --- parsing ---------------------------------------------------------------------------


def test_rules_are_read_in_order() -> None:
    """The output of `selflearn rewrites --out` is a list of source/target objects."""
    raw = _rules((MISHEARD, MEANT), ("lights of", "lights off"))
    assert parse_rules(raw, "r.json") == [(MISHEARD, MEANT), ("lights of", "lights off")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "r.json: not JSON"),
        (b'{"source": "a", "target": "b"}', "r.json: expected a JSON list"),
        (b'[{"source": "a", "target": "b"}, 3]', "r.json: entry 1 is not an object"),
        (b'[{"target": "b"}]', "r.json: entry 0 has no string 'source'"),
        (b'[{"source": "a", "target": 7}]', "r.json: entry 0 has no string 'target'"),
        (
            b'[{"source": "a", "target": "b"}, {"source": " ", "target": "b"}]',
            "r.json: entry 1 has an empty 'source'",
        ),
        (b"\xff\xfe", "r.json: not JSON"),
    ],
)
def test_a_malformed_rules_file_names_the_file_and_the_entry(raw: bytes, message: str) -> None:
    """The person fixing the file is told where it is wrong."""
    with pytest.raises(RulesError, match=message):
        parse_rules(raw, "r.json")


def test_oversized_rules_are_refused_before_parsing() -> None:
    """A file far larger than any rules file is not read as one."""
    with pytest.raises(RulesError, match="larger than"):
        parse_rules(b" " * (8 * 1024 * 1024 + 1), "r.json")
    with pytest.raises(RulesError, match="more than 10000"):
        parse_rules(_rules(*[("a", "b")] * 10_001), "r.json")


# --- sentences -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "sentence"),
    [
        (MISHEARD, MISHEARD),
        ("  Turn of   the Kitchen light?! ", MISHEARD),
        ("what's the time, please", "what's the time please"),
        ("turn [on] the light", None),
        ("turn on {name}", None),
        ("(turn) on", None),
        ("on|off", None),
        ("turn <on>", None),
        ("a \\ b", None),
        ("?!", None),
        ("", None),
    ],
)
def test_only_plain_words_become_sentences(source: str, sentence: str | None) -> None:
    """Punctuation goes as hassil drops it; template syntax would not match the words."""
    assert sentence_of(source) == sentence


def _entry(sentence: str, intent_name: str, **slots: Any) -> Entry:
    return Entry(sentence, "target", sentence, Frame(intent_name, tuple(sorted(slots.items()))))


def test_the_document_groups_sentences_by_intent_and_slots_in_a_stable_order() -> None:
    """One data block per (intent, slots); the same rules in any order give the same file."""
    entries = [
        _entry("turn of the kitchen light", "HassTurnOn", name="Kitchen Light"),
        _entry("switch of the lamp", "HassTurnOff", name="Lamp"),
        _entry("turn un the kitchen light", "HassTurnOn", name="Kitchen Light"),
        _entry("turn on the lamp", "HassTurnOn", name="Lamp", domain="light"),
    ]
    document = build_document("en", entries)
    assert document == {
        "language": "en",
        "intents": {
            "HassTurnOff": {
                "data": [{"sentences": ["switch of the lamp"], "slots": {"name": "Lamp"}}]
            },
            "HassTurnOn": {
                "data": [
                    {
                        "sentences": ["turn on the lamp"],
                        "slots": {"domain": "light", "name": "Lamp"},
                    },
                    {
                        "sentences": ["turn of the kitchen light", "turn un the kitchen light"],
                        "slots": {"name": "Kitchen Light"},
                    },
                ]
            },
        },
    }
    assert build_document("en", reversed(entries)) == document
    text = dump_document(document)
    assert text.startswith(HEADER)
    assert "overwrites this file" in text
    assert yaml.safe_load(text) == document


# --- hassil alone ----------------------------------------------------------------------


def _slot_lists() -> dict[str, TextSlotList]:
    return {
        "name": TextSlotList.from_tuples([("Kitchen Light", "Kitchen Light", {"domain": "light"})]),
        "area": TextSlotList.from_tuples([("Kitchen", "kitchen")]),
        "floor": TextSlotList.from_tuples([]),
    }


def test_hassil_reads_the_exported_sentence_as_the_target() -> None:
    """HA's English sentences with the document merged in read the source as the target."""
    builtin = Intents.from_dict(get_intents("en"))
    meant = recognize(MEANT, builtin, slot_lists=_slot_lists())
    assert is_understood(meant)
    assert not is_understood(recognize(MISHEARD, builtin, slot_lists=_slot_lists()))
    frame = frame_of(meant)
    assert frame is not None and frame.intent == "HassTurnOn"

    document = yaml.safe_load(
        dump_document(build_document("en", [Entry(MISHEARD, MEANT, MISHEARD, frame)]))
    )
    merged = get_intents("en")
    merge_dict(merged, document)
    heard = recognize(MISHEARD, Intents.from_dict(merged), slot_lists=_slot_lists())

    assert is_understood(heard)
    assert frame_of(heard) == frame


# --- the built-in agent ----------------------------------------------------------------


async def _ask(hass: HomeAssistant, text: str) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id="homeassistant"
    )


async def _export(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    return await hass.services.async_call(
        DOMAIN, SERVICE_EXPORT_SENTENCES, data, blocking=True, return_response=True
    )


@pytest.fixture
async def config_dir(hass: HomeAssistant, home: Home, tmp_path: Path) -> Path:
    """A configuration directory of the test's own, with the integration's actions set up."""
    hass.config.config_dir = str(tmp_path)
    assert await async_setup_component(hass, DOMAIN, {})
    return tmp_path


async def test_exported_sentences_make_the_built_in_agent_understand_the_mishearing(
    hass: HomeAssistant, home: Home, config_dir: Path
) -> None:
    """The mishearing is exported, the rest skipped with why, and the light turns on."""
    before = await _ask(hass, MISHEARD)
    assert before.response.error_code == intent.IntentResponseErrorCode.NO_VALID_TARGETS
    (config_dir / "selflearn-rewrites.json").write_bytes(
        _rules(
            (MISHEARD, MEANT),
            ("turn off the kitchen light", MEANT),
            ("turn of the garage light", "turn on the garage light"),
            ("turn [of] the kitchen light", MEANT),
        )
    )

    report = await _export(hass)

    assert report == {
        "file": EXPORT_FILE,
        "exported": [{"source": MISHEARD, "target": MEANT, "intent": "HassTurnOn"}],
        "skipped": [
            {"source": "turn off the kitchen light", "target": MEANT, "reason": SKIP_UNDERSTOOD},
            {
                "source": "turn of the garage light",
                "target": "turn on the garage light",
                "reason": SKIP_TARGET_NOT_UNDERSTOOD,
            },
            {"source": "turn [of] the kitchen light", "target": MEANT, "reason": SKIP_NOT_PLAIN},
        ],
    }
    written = (config_dir / EXPORT_FILE).read_text(encoding="utf-8")
    assert written.startswith(HEADER)
    document = yaml.safe_load(written)
    assert document["language"] == "en"
    (data,) = document["intents"]["HassTurnOn"]["data"]
    assert data["sentences"] == [MISHEARD]
    assert data["slots"] == {"name": "Kitchen Light"}
    assert [p.name for p in (config_dir / EXPORT_FILE).parent.iterdir()] == ["selflearn.yaml"]

    assert hass.states.get(home.light_entity_id).state == STATE_OFF
    after = await _ask(hass, MISHEARD)
    assert after.response.response_type == intent.IntentResponseType.ACTION_DONE
    assert hass.states.get(home.light_entity_id).state == STATE_ON


async def test_a_second_export_keeps_its_own_sentences_and_an_empty_one_removes_the_file(
    hass: HomeAssistant, home: Home, config_dir: Path
) -> None:
    """Understood only through selflearn's previous file is not 'already understood'."""
    rules = config_dir / "selflearn-rewrites.json"
    rules.write_bytes(_rules((MISHEARD, MEANT)))
    await _export(hass)

    again = await _export(hass)
    assert [e["source"] for e in again["exported"]] == [MISHEARD]
    assert again["skipped"] == []

    rules.write_bytes(b"[]")
    emptied = await _export(hass)

    assert emptied == {"file": EXPORT_FILE, "exported": [], "skipped": []}
    assert not (config_dir / EXPORT_FILE).exists()
    result = await _ask(hass, MISHEARD)
    assert result.response.error_code == intent.IntentResponseErrorCode.NO_VALID_TARGETS
    assert hass.states.get(home.light_entity_id).state == STATE_OFF


async def test_a_sentence_the_loaded_file_does_not_deliver_is_taken_out_again(
    hass: HomeAssistant, home: Home, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation after the reload: an entry the agent then misreads is removed and reported."""
    recognize_text = export._async_recognize
    exported = config_dir / EXPORT_FILE

    async def _misread_once_written(agent: Any, lang: str, text: str) -> Any:
        """Stand in for a sentence that another loaded sentence shadows."""
        if text == MISHEARD and exported.exists():
            return None
        return await recognize_text(agent, lang, text)

    monkeypatch.setattr(export, "_async_recognize", _misread_once_written)
    (config_dir / "selflearn-rewrites.json").write_bytes(
        _rules((MISHEARD, MEANT), ("turn of kitchen light", MEANT))
    )

    report = await _export(hass)

    assert [e["source"] for e in report["exported"]] == ["turn of kitchen light"]
    assert report["skipped"] == [{"source": MISHEARD, "target": MEANT, "reason": SKIP_VALIDATION}]
    (data,) = yaml.safe_load(exported.read_text())["intents"]["HassTurnOn"]["data"]
    assert data["sentences"] == ["turn of kitchen light"]
    assert (await _ask(hass, MISHEARD)).response.response_type == intent.IntentResponseType.ERROR
    assert hass.states.get(home.light_entity_id).state == STATE_OFF


@pytest.mark.parametrize("name", ["../x.json", "/etc/hostname", "sub/../../x.json"])
async def test_a_rules_file_outside_the_config_dir_is_refused(
    hass: HomeAssistant, home: Home, config_dir: Path, name: str
) -> None:
    """The action reads nothing outside Home Assistant's configuration directory."""
    (config_dir.parent / "x.json").write_bytes(_rules((MISHEARD, MEANT)))
    with pytest.raises(HomeAssistantError, match="outside the configuration directory") as err:
        await _export(hass, rules_file=name)
    assert name in str(err.value)
    assert not (config_dir / "custom_sentences").exists()


async def test_a_malformed_rules_file_leaves_the_previous_export_untouched(
    hass: HomeAssistant, home: Home, config_dir: Path
) -> None:
    """A broken file is refused, naming the entry, before anything is written."""
    rules = config_dir / "learned.json"
    rules.write_bytes(_rules((MISHEARD, MEANT)))
    await _export(hass, rules_file="learned.json", language="en")
    previous = (config_dir / EXPORT_FILE).read_bytes()

    rules.write_bytes(b'[{"source": "a", "target": "b"}, {"source": "c"}]')
    with pytest.raises(HomeAssistantError, match="learned.json: entry 1 has no string 'target'"):
        await _export(hass, rules_file="learned.json")

    assert (config_dir / EXPORT_FILE).read_bytes() == previous
    with pytest.raises(HomeAssistantError, match="cannot read rules_file 'missing.json'"):
        await _export(hass, rules_file="missing.json")
