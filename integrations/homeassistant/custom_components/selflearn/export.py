"""Export learned rewrites as custom sentences of Home Assistant's built-in agent.

The built-in agent decides what is exported: a rewrite becomes a custom sentence only when
the agent does not understand its source and does understand its target, and it stays only
when, once the file is loaded, the agent reads the source exactly as the target (same intent,
same slot values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
from pathlib import Path
import tempfile
from typing import Any

from homeassistant.components.conversation import (
    HOME_ASSISTANT_AGENT,
    METADATA_CUSTOM_FILE,
    ConversationInput,
    DefaultAgent,
    _get_agent_manager,
)
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .sentences import (
    MAX_RULES_BYTES,
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

CUSTOM_SENTENCES_DIR = "custom_sentences"
EXPORT_FILE_NAME = "selflearn.yaml"

SKIP_NOT_PLAIN = "the source is not a plain sentence (empty, or hassil template syntax)"
SKIP_DUPLICATE = "an earlier rewrite already exports the same sentence"
SKIP_UNDERSTOOD = "Home Assistant already understands the source"
SKIP_TARGET_NOT_UNDERSTOOD = "Home Assistant does not understand the target"
SKIP_TARGET_NOT_SCALAR = "the target's slot values cannot be written as fixed values"
SKIP_VALIDATION = "once exported, Home Assistant did not read the source as the target"


@dataclass(slots=True)
class _Plan:
    """The rewrites sorted into what is exported and what is skipped, with why."""

    entries: list[Entry] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def skip(self, source: str, target: str, reason: str) -> None:
        """Record a rewrite that is not exported."""
        self.skipped.append({"source": source, "target": target, "reason": reason})


async def async_export_sentences(
    hass: HomeAssistant, rules_file: str, language: str | None
) -> dict[str, Any]:
    """Write the rewrites of `rules_file` as custom sentences; report what was exported."""
    config_dir = Path(hass.config.config_dir)
    raw = await hass.async_add_executor_job(_read_rules, config_dir, rules_file)
    try:
        rules = parse_rules(raw, rules_file)
    except RulesError as err:
        raise ServiceValidationError(str(err)) from err

    agent = await _get_agent_manager(hass).async_get_agent(HOME_ASSISTANT_AGENT)
    if not isinstance(agent, DefaultAgent):
        raise HomeAssistantError("Home Assistant's built-in conversation agent is not loaded")
    lang = language or hass.config.language
    # Start from the files on disk, not the agent's cache. Loading a language the agent
    # already holds fails in Home Assistant 2024.3 (UnboundLocalError in
    # _get_or_load_intents), so the cache is dropped first.
    await agent.async_reload(language=lang)
    lang_intents = await agent.async_get_or_load_intents(lang)
    if lang_intents is None or not lang_intents.language_variant:
        raise ServiceValidationError(f"Home Assistant has no sentences for language {lang!r}")
    variant = lang_intents.language_variant
    relative = Path(CUSTOM_SENTENCES_DIR, variant, EXPORT_FILE_NAME)
    own_file = str(Path(variant, EXPORT_FILE_NAME))
    target = config_dir / relative

    plan = await _async_plan(agent, lang, own_file, rules)
    entries = plan.entries
    await _async_write(hass, agent, lang, variant, target, entries)
    if entries:
        failed = await _async_failures(agent, lang, entries)
        if failed:
            entries = [entry for entry in entries if entry not in failed]
            await _async_write(hass, agent, lang, variant, target, entries)
            for entry in failed:
                plan.skip(entry.source, entry.target, SKIP_VALIDATION)
    return {
        "file": relative.as_posix(),
        "exported": [
            {"source": e.source, "target": e.target, "intent": e.frame.intent} for e in entries
        ],
        "skipped": plan.skipped,
    }


def _read_rules(config_dir: Path, rules_file: str) -> bytes:
    """Read the rules file, refusing paths outside the configuration directory.

    The action may be called by any admin, so it reads nothing Home Assistant's own
    configuration directory does not hold.
    """
    root = config_dir.resolve()
    path = (root / rules_file).resolve()
    if not path.is_relative_to(root):
        raise ServiceValidationError(
            f"rules_file {rules_file!r} is outside the configuration directory {root}"
        )
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_RULES_BYTES + 1)
    except OSError as err:
        raise ServiceValidationError(f"cannot read rules_file {rules_file!r}: {err}") from err
    return raw


async def _async_plan(
    agent: DefaultAgent,
    lang: str,
    own_file: str,
    rules: list[tuple[str, str]],
) -> _Plan:
    """Sort the rules: export what the agent misses and whose target it understands."""
    plan = _Plan()
    seen: set[str] = set()
    for source, target in rules:
        sentence = sentence_of(source)
        if sentence is None:
            plan.skip(source, target, SKIP_NOT_PLAIN)
            continue
        if sentence in seen:
            plan.skip(source, target, SKIP_DUPLICATE)
            continue
        heard = await _async_recognize(agent, lang, sentence)
        if is_understood(heard) and not _from_file(heard, own_file):
            plan.skip(source, target, SKIP_UNDERSTOOD)
            continue
        meant = await _async_recognize(agent, lang, target)
        if not is_understood(meant):
            plan.skip(source, target, SKIP_TARGET_NOT_UNDERSTOOD)
            continue
        frame = frame_of(meant)
        if frame is None:
            plan.skip(source, target, SKIP_TARGET_NOT_SCALAR)
            continue
        seen.add(sentence)
        plan.entries.append(Entry(source, target, sentence, frame))
    return plan


def _from_file(result: Any, own_file: str) -> bool:
    """Whether the match came from selflearn's previous export (it is about to be replaced)."""
    metadata = getattr(result, "intent_metadata", None) or {}
    return metadata.get(METADATA_CUSTOM_FILE) == own_file


async def _async_recognize(agent: DefaultAgent, lang: str, text: str) -> Any:
    """Recognise text the way HA's Assist debug view does: no device, a fresh context."""
    return await agent.async_recognize(
        ConversationInput(
            text=text, context=Context(), conversation_id=None, device_id=None, language=lang
        )
    )


async def _async_failures(
    agent: DefaultAgent, lang: str, entries: list[Entry]
) -> list[Entry]:
    """The exported sentences the agent, with the file loaded, does not read as the target."""
    failed = []
    for entry in entries:
        result = await _async_recognize(agent, lang, entry.sentence)
        frame: Frame | None = frame_of(result) if is_understood(result) else None
        if frame != entry.frame:
            failed.append(entry)
    return failed


async def _async_write(
    hass: HomeAssistant,
    agent: DefaultAgent,
    lang: str,
    variant: str,
    target: Path,
    entries: list[Entry],
) -> None:
    """Replace the export file (or remove it when empty), then make the agent reload it."""
    text = dump_document(build_document(variant, entries)) if entries else None
    await hass.async_add_executor_job(_replace_file, target, text)
    await agent.async_reload(language=lang)


def _replace_file(target: Path, text: str | None) -> None:
    """Write atomically, so the agent never loads half a file; None removes the file.

    The temporary name does not end in .yaml: the agent loads every *.yaml in the folder.
    """
    if text is None:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".selflearn-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
