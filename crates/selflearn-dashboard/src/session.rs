//! One person's turns, replayed as the assistant logged them, session by session, with the
//! friction signals each turn raised and the rewrite applied to it: what Home Assistant's
//! Assist debug view shows for one run, over a person's history.

use std::fmt::Write;

use selflearn_engine::insights::civil_date;
use selflearn_signals::{SignalConfig, TurnSignals, friction, sessions};
use selflearn_types::TurnEvent;

use crate::html::{Cell, escape, percent, table};

/// The most turns shown: the latest ones.
pub const MAX_TURNS: usize = 500;

/// The signals a turn raised, by name.
fn raised(signals: &TurnSignals) -> Vec<&'static str> {
    [
        (signals.system_failure, "system failure"),
        (signals.barge_in, "barge-in"),
        (signals.rephrase, "rephrase"),
        (signals.repeat, "repeat"),
        (signals.explicit_negative, "explicit negative"),
        (signals.abandonment, "abandonment"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

fn clock(ms: i64) -> String {
    let day = civil_date(ms.div_euclid(86_400_000));
    let secs = ms.rem_euclid(86_400_000) / 1000;
    format!(
        "{day} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The session view of `events` (one person's, any order) for `who`.
pub fn render(who: &str, mut events: Vec<TurnEvent>, config: &SignalConfig) -> String {
    events.sort_by_key(|e| e.timestamp_ms);
    let cut = events.len().saturating_sub(MAX_TURNS);
    let shown = events.split_off(cut);
    let mut out = format!(
        "<section data-session-user=\"{}\"><h2>Sessions of {}</h2>",
        escape(who),
        escape(who)
    );
    if shown.is_empty() {
        out.push_str("<p class=\"empty\" data-table=\"turns\" data-rows=\"0\">No turns logged for this person.</p></section>");
        return out;
    }
    if cut > 0 {
        let _ = write!(
            out,
            "<p>The latest {MAX_TURNS} turns; {cut} earlier ones not shown.</p>"
        );
    }
    for (n, session) in sessions(&shown, config).iter().enumerate() {
        let signals = friction(session, config);
        let rows: Vec<Vec<Cell>> = session
            .turns
            .iter()
            .zip(&signals)
            .map(|(turn, s)| {
                let rewrite = turn.rewrite.as_ref().map_or(String::new(), |r| {
                    format!("{} → {} ({})", r.original_text, r.rewritten_text, r.layer)
                });
                let nlu = turn.nlu.as_ref().map_or("—".to_owned(), |nlu| {
                    let slots: Vec<String> = nlu
                        .slots
                        .iter()
                        .map(|s| format!("{}={}", s.name, s.value))
                        .collect();
                    format!("{} {}", nlu.intent, slots.join(" "))
                });
                vec![
                    clock(turn.timestamp_ms).into(),
                    turn.device.id.clone().into(),
                    turn.asr.text.clone().into(),
                    rewrite.into(),
                    nlu.into(),
                    format!("{:?}", turn.response.outcome).to_lowercase().into(),
                    turn.response.text.clone().into(),
                    raised(s).join(", ").into(),
                    percent(s.defect_estimate).into(),
                ]
            })
            .collect();
        let _ = write!(out, "<h3>Session {}</h3>", n + 1);
        out.push_str(&table(
            "turns",
            &[
                "when (UTC)",
                "device",
                "heard",
                "rewrite",
                "understood",
                "outcome",
                "answer",
                "signals",
                "defect estimate",
            ],
            &rows,
            "",
        ));
    }
    out.push_str("</section>");
    out
}

#[cfg(test)]
mod tests {
    use selflearn_types::Outcome;
    use selflearn_types::testing::turn_saying as turn;

    use super::*;

    #[test]
    fn a_failed_turn_and_its_rephrase_show_their_signals_in_one_session() {
        let events = vec![
            turn("ann", "2", 5_000, "play imagine dragons", Outcome::Success),
            turn("ann", "1", 0, "play maj and <dragons>", Outcome::Failure),
        ];
        let later = clock(events[0].timestamp_ms);
        let html = render("ann", events, &SignalConfig::default());
        assert_eq!(html.matches("<h3>Session").count(), 1);
        let first = html.find("maj and").unwrap();
        assert!(
            first < html.find("play imagine dragons").unwrap(),
            "time order"
        );
        assert!(html.contains("&lt;dragons&gt;"), "escaped");
        assert!(html.contains("system failure"));
        assert!(html.contains("rephrase"));
        assert!(html.contains(&later), "{later}");
        assert_eq!(clock(86_400_000 + 3_723_000), "1970-01-02 01:02:03");
    }

    #[test]
    fn nobody_is_an_empty_view() {
        let html = render("nobody", Vec::new(), &SignalConfig::default());
        assert!(html.contains("data-rows=\"0\""));
    }
}
