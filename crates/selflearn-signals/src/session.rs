//! Sessions: a user's turns with no long silence between them.

use std::collections::BTreeMap;

use selflearn_types::TurnEvent;

use crate::SignalConfig;

/// One person's consecutive turns, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The person: the user id, within its source when the turns have one
    /// ([`selflearn_types::person_key`]), so two installations' same user id are two people.
    pub user_id: String,
    /// The turns, in time order.
    pub turns: Vec<TurnEvent>,
}

/// When the spoken response of a turn ended: its start plus the response's length, cut short
/// by a barge-in. A barge-in after the response (talking over music it started) does not
/// shorten it.
pub(crate) fn response_end(event: &TurnEvent) -> i64 {
    let spoken = i64::from(event.response.duration_ms.unwrap_or(0));
    let cut = event
        .barge_in
        .map_or(spoken, |b| spoken.min(i64::from(b.at_ms)));
    event.timestamp_ms + cut
}

/// Splits events (in any order) into sessions per person (user id within source): a new
/// session starts when the person's next request begins more than `session_gap_ms` after the
/// previous response ended. Sessions come out ordered by person, then time.
pub fn sessions(events: &[TurnEvent], config: &SignalConfig) -> Vec<Session> {
    let mut by_user: BTreeMap<std::borrow::Cow<'_, str>, Vec<&TurnEvent>> = BTreeMap::new();
    for event in events {
        by_user.entry(event.person()).or_default().push(event);
    }
    let mut out = Vec::new();
    for (user, mut turns) in by_user {
        turns.sort_by(|a, b| (a.timestamp_ms, &a.event_id).cmp(&(b.timestamp_ms, &b.event_id)));
        let mut current: Vec<TurnEvent> = Vec::new();
        for turn in turns {
            let split = current
                .last()
                .is_some_and(|last| turn.timestamp_ms - response_end(last) > config.session_gap_ms);
            if split {
                out.push(Session {
                    user_id: user.clone().into_owned(),
                    turns: std::mem::take(&mut current),
                });
            }
            current.push(turn.clone());
        }
        if !current.is_empty() {
            out.push(Session {
                user_id: user.into_owned(),
                turns: current,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use selflearn_types::Outcome;
    use selflearn_types::testing::turn_saying;

    fn turn(user: &str, id: &str, at_ms: i64) -> TurnEvent {
        turn_saying(user, id, at_ms, "play maj and dragons", Outcome::Failure)
    }

    #[test]
    fn a_long_silence_starts_a_new_session_per_user() {
        let events = vec![
            turn("b", "b1", 0),
            turn("a", "a2", 10_000),
            turn("a", "a1", 0),
            turn("a", "a3", 10_000 + 2_000 + 45_001),
        ];
        let sessions = sessions(&events, &SignalConfig::default());
        let ids: Vec<Vec<&str>> = sessions
            .iter()
            .map(|s| s.turns.iter().map(|t| t.event_id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["a1", "a2"], vec!["a3"], vec!["b1"]]);
    }
}
