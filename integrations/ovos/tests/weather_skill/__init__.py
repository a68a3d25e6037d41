"""A minimal OVOS skill for the tests: one Padacioso intent that answers or fails.

It runs on the real ovos-workshop skill base, so the tests see the messages a real skill sends
(``<skill_id>:weather.intent``, ``speak``, ``mycroft.skill.handler.*``).
"""

from ovos_workshop.decorators import intent_handler
from ovos_workshop.skills import OVOSSkill

SKILL_ID = "skill-weather.selflearn-test"


class WeatherSkill(OVOSSkill):
    """Says the weather; asks back for "nowhere"; raises for "atlantis"."""

    @intent_handler("weather.intent")
    def handle_weather(self, message):
        city = message.data.get("city", "")
        if city == "atlantis":
            raise RuntimeError("no weather service for atlantis")
        if city == "nowhere":
            self.speak("Which city do you mean?", expect_response=True)
            return
        self.speak(f"It is sunny in {city}")
