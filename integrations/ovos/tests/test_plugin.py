"""Part 1: the transformer is found by OVOS's plugin manager and rewrites through selflearn."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from ovos_selflearn.mapping import CONTEXT_KEY
from ovos_selflearn.transformer import SelflearnTransformer
from support import TOKEN, utterance_message


def plugin_block(url: str, **extra) -> dict:
    block = {"url": url, "token": TOKEN, "log_turns": False,
             "device": {"id": "kitchen-speaker", "kind": "speaker", "has_screen": False}}
    block.update(extra)
    return block


def test_the_package_declares_its_transformer_entry_point():
    found = [ep for ep in entry_points(group="opm.transformer.text")
             if ep.name == "ovos-selflearn"]
    assert len(found) == 1
    assert found[0].value == "ovos_selflearn.transformer:SelflearnTransformer"


def test_the_plugin_manager_discovers_and_loads_it_by_its_entry_point():
    from ovos_plugin_manager.text_transformers import (find_utterance_transformer_plugins,
                                                       load_utterance_transformer_plugin)

    plugins = find_utterance_transformer_plugins()
    assert plugins.get("ovos-selflearn") is SelflearnTransformer
    assert load_utterance_transformer_plugin("ovos-selflearn") is SelflearnTransformer


def test_ovos_core_loads_it_from_mycroft_conf_and_it_rewrites(fake_selflearn, mycroft_conf):
    """ovos-core's own transformer service builds the plugin from the mycroft.conf block."""
    from ovos_core.transformers import UtteranceTransformersService
    from ovos_utils.fakebus import FakeBus

    fake_selflearn.rewrites["play maj and dragons"] = {
        "text": "play imagine dragons", "layer": "precomputed", "artifact_version": "a-7",
        "score": 0.82}
    mycroft_conf({"utterance_transformers": {
        "ovos-selflearn": plugin_block(fake_selflearn.url),
        "ovos-utterance-corrections-plugin": {"active": False}}})
    service = UtteranceTransformersService(FakeBus())
    assert "ovos-selflearn" in service.loaded_plugins
    plugin = service.loaded_plugins["ovos-selflearn"]
    assert isinstance(plugin, SelflearnTransformer)
    assert plugin.settings.url == fake_selflearn.url

    message = utterance_message(["play maj and dragons", "play madge and dragons"],
                                user_id="alice")
    utterances, context = service.transform(message.data["utterances"], message.context)
    assert utterances == ["play imagine dragons"]
    assert context[CONTEXT_KEY] == {
        "original_utterances": ["play maj and dragons", "play madge and dragons"],
        "rewrite": {"original_text": "play maj and dragons",
                    "rewritten_text": "play imagine dragons", "layer": "precomputed",
                    "artifact_version": "a-7", "score": 0.82}}
    assert context["session"] == message.context["session"]  # the rest of the context stays

    message = utterance_message("what time is it")
    utterances, context = service.transform(message.data["utterances"], message.context)
    assert utterances == ["what time is it"]
    assert CONTEXT_KEY not in context

    requests = fake_selflearn.requests_to("/v1/rewrite")
    assert [r["body"]["text"] for r in requests] == ["play maj and dragons", "what time is it"]
    for request in requests:
        assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert request["headers"]["Content-Type"] == "application/json"
        body = request["body"]
        assert set(body) <= {"user_id", "device", "text", "timestamp_ms", "context"}
        assert body["device"] == {"id": "kitchen-speaker", "kind": "speaker",
                                  "has_screen": False}
        assert all(isinstance(v, str) for v in body["context"].values())
        assert body["context"]["locale"] == "en-US"
        assert body["context"]["ovos.source"] == "audio"
    assert requests[0]["body"]["user_id"] == "alice"     # from the message context
    assert requests[1]["body"]["user_id"] == "default"   # none known: the configured default
    service.shutdown()


def test_a_rewrite_keeps_only_the_rewritten_hypothesis(fake_selflearn):
    fake_selflearn.rewrites["turn of the lights"] = {"text": "turn off the lights"}
    plugin = SelflearnTransformer(config=plugin_block(fake_selflearn.url))
    utterances, extra = plugin.transform(["turn of the lights", "turn on the lights"], {})
    assert utterances == ["turn off the lights"]
    assert extra[CONTEXT_KEY]["original_utterances"] == ["turn of the lights",
                                                         "turn on the lights"]
    plugin.shutdown()


@pytest.mark.parametrize("token", [None, "slt_wrong"])
def test_a_refused_token_leaves_the_utterance_alone(fake_selflearn, token):
    fake_selflearn.rewrites["play maj and dragons"] = {"text": "play imagine dragons"}
    plugin = SelflearnTransformer(config=plugin_block(fake_selflearn.url, token=token))
    assert plugin.transform(["play maj and dragons"], {}) == (["play maj and dragons"], {})
    request = fake_selflearn.requests_to("/v1/rewrite")[0]
    assert request["headers"].get("Authorization") == (f"Bearer {token}" if token else None)
    plugin.shutdown()


def test_rewrite_can_be_switched_off(fake_selflearn):
    fake_selflearn.rewrites["play maj and dragons"] = {"text": "play imagine dragons"}
    plugin = SelflearnTransformer(config=plugin_block(fake_selflearn.url, rewrite=False))
    assert plugin.transform(["play maj and dragons"], {}) == (["play maj and dragons"], {})
    assert fake_selflearn.requests_to("/v1/rewrite") == []
    plugin.shutdown()
