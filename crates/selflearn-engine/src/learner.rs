//! The learner contract. A learner sees the log one user at a time (a user's sessions in time
//! order, with their friction signals), so per-user work can be split across threads or
//! machines; partial learners of the same kind merge; a learner finishes into an artifact and
//! stays as it was, so a nightly job can observe the next day and finish again.

use selflearn_signals::{Session, SignalConfig, TurnSignals, friction, sessions};
use selflearn_types::TurnEvent;

/// One user's sessions, in time order, each with its turns' friction signals.
#[derive(Debug, Clone, Default)]
pub struct UserTurns {
    /// The person.
    pub user_id: String,
    /// Their sessions, earliest first.
    pub sessions: Vec<Session>,
    /// `signals[i]` are the signals of `sessions[i]`'s turns.
    pub signals: Vec<Vec<TurnSignals>>,
}

impl UserTurns {
    /// Each session with its signals.
    pub fn iter(&self) -> impl Iterator<Item = (&Session, &[TurnSignals])> {
        self.sessions
            .iter()
            .zip(&self.signals)
            .map(|(s, f)| (s, f.as_slice()))
    }

    /// Turns of all sessions.
    pub fn turns(&self) -> usize {
        self.sessions.iter().map(|s| s.turns.len()).sum()
    }
}

/// Sessions and friction signals of `events` (any users, any order), one [`UserTurns`] per
/// user in user order: the one place the session → friction step is written.
pub fn by_user(events: &[TurnEvent], config: &SignalConfig) -> Vec<UserTurns> {
    let mut users: Vec<UserTurns> = Vec::new();
    for session in sessions(events, config) {
        let signals = friction(&session, config);
        match users.last_mut() {
            Some(user) if user.user_id == session.user_id => {
                user.sessions.push(session);
                user.signals.push(signals);
            }
            _ => users.push(UserTurns {
                user_id: session.user_id.clone(),
                sessions: vec![session],
                signals: vec![signals],
            }),
        }
    }
    users
}

/// One user's events at a time from a stream grouped by user (a user-time scan, a part of a
/// log): [`UserRuns::push`] hands back the previous user's events when the next user's first
/// event comes.
#[derive(Debug, Default)]
pub(crate) struct UserRuns {
    current: Vec<TurnEvent>,
}

impl UserRuns {
    /// Adds the next event; returns the events of the user it ends, if it starts another.
    pub(crate) fn push(&mut self, event: TurnEvent) -> Option<Vec<TurnEvent>> {
        let ended = self
            .current
            .last()
            .is_some_and(|last| last.user_id != event.user_id)
            .then(|| std::mem::take(&mut self.current));
        self.current.push(event);
        ended
    }

    /// The last user's events, if any.
    pub(crate) fn finish(self) -> Option<Vec<TurnEvent>> {
        (!self.current.is_empty()).then_some(self.current)
    }
}

/// Something `learn` trains from the log.
pub trait Learner: Sized + Send {
    /// What it finishes into.
    type Artifact;

    /// Adds one user's sessions (all of them, or the next day's).
    fn observe(&mut self, user: &UserTurns);

    /// Adds what another partial learner of the same kind observed: the result learns what
    /// one learner observing both would have.
    fn merge(&mut self, other: Self);

    /// The artifact of what was observed so far, named `version`.
    fn finish(&self, version: &str) -> crate::Result<Self::Artifact>;
}

#[cfg(test)]
mod tests {
    use selflearn_types::Outcome;
    use selflearn_types::testing::turn_saying as turn;

    use super::*;

    #[test]
    fn each_user_gets_their_own_sessions_in_time_order_whatever_the_event_order() {
        let events = vec![
            turn("b", "b2", 50_000_000, "stop", Outcome::Success),
            turn("a", "a1", 0, "play jazz", Outcome::Success),
            turn("b", "b1", 0, "what time is it", Outcome::Success),
            turn("a", "a2", 90_000_000, "lights on", Outcome::Failure),
        ];
        let users = by_user(&events, &SignalConfig::default());
        let ids: Vec<(&str, Vec<&str>)> = users
            .iter()
            .map(|u| {
                (
                    u.user_id.as_str(),
                    u.sessions
                        .iter()
                        .flat_map(|s| s.turns.iter().map(|t| t.event_id.as_str()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(ids, [("a", vec!["a1", "a2"]), ("b", vec!["b1", "b2"])]);
        assert_eq!(users[0].sessions.len(), 2, "a day apart is two sessions");
        assert!(users.iter().all(|u| u.sessions.len() == u.signals.len()));
        assert_eq!(users[1].turns(), 2);
    }
}
