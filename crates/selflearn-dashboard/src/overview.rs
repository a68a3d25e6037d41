//! The overview: what is in force, how the assistant fares per day, what fails most, and
//! every rewrite with its evidence and what became of it.

use std::collections::BTreeSet;
use std::fmt::Write;

use selflearn_engine::SetSummary;
use selflearn_engine::insights::{Insights, SIGNALS, civil_date};
use selflearn_miner::RewriteTable;
use selflearn_types::blocked::{Block, BlockList};

use crate::chart::{Series, count, line_chart, share};
use crate::html::{Cell, escape, percent, table};

/// The overview of `set` (the set on disk; `None` when there is none yet), with the blocks in
/// force and the version the service answers with.
pub fn render(set: Option<&SetSummary>, blocks: &BlockList, in_force: Option<&str>) -> String {
    let mut out = String::new();
    out.push_str(&versions(set, in_force));
    let insights = set.and_then(|s| s.insights.as_ref());
    out.push_str(&charts(insights));
    out.push_str("<section><h2>Requests that fail most</h2>");
    out.push_str(&failing(insights));
    out.push_str("</section><section><h2>Rewrite table</h2>");
    out.push_str(&rewrites(set.and_then(|s| s.table.as_ref()), blocks));
    out.push_str("</section><section><h2>After deployment: wins and losses</h2>");
    out.push_str(&applied(insights));
    out.push_str("<h3>Rolled back</h3>");
    out.push_str(&rolled_back(set.and_then(|s| s.table.as_ref())));
    out.push_str("<h3>Held for approval (sensitive)</h3>");
    out.push_str(&held(set.and_then(|s| s.table.as_ref())));
    out.push_str("</section><section><h2>Blocked by an operator</h2>");
    out.push_str(&blocked(&blocks.blocks()));
    out.push_str("</section>");
    out
}

fn versions(set: Option<&SetSummary>, in_force: Option<&str>) -> String {
    let Some(set) = set else {
        return "<section><h2>Artifacts</h2><p class=\"empty\" data-table=\"artifacts\" data-rows=\"0\">No artifact set yet: run <code>selflearn learn</code>.</p></section>".into();
    };
    let manifest = &set.manifest;
    let rows: Vec<Vec<Cell>> = manifest
        .artifacts
        .iter()
        .map(|a| {
            vec![
                format!("{:?}", a.kind).into(),
                a.file.clone().into(),
                a.format.to_string().into(),
                a.digest.get(..16).unwrap_or(&a.digest).to_owned().into(),
            ]
        })
        .collect();
    let created = civil_date(manifest.created_at_ms.div_euclid(86_400_000));
    let serving = match in_force {
        Some(v) if v == manifest.version => format!("served now: <b>{}</b>", escape(v)),
        Some(v) => format!(
            "served now: <b>{}</b> (the set on disk, {}, is being loaded or was refused)",
            escape(v),
            escape(&manifest.version)
        ),
        None => "the service answers without artifacts".into(),
    };
    format!(
        "<section><h2>Artifacts</h2><p data-version=\"{}\">Set <b>{}</b>, learned {created} from {} events; {serving}.</p>{}</section>",
        escape(&manifest.version),
        escape(&manifest.version),
        manifest.log.events,
        table(
            "artifacts",
            &["kind", "file", "format", "digest"],
            &rows,
            ""
        )
    )
}

fn charts(insights: Option<&Insights>) -> String {
    let days = insights.map_or(&[][..], |i| i.days.as_slice());
    let labels: Vec<String> = days.iter().map(|d| d.date()).collect();
    let defect = vec![Series {
        name: "likely defects per turn".into(),
        values: days.iter().map(|d| d.defect_rate()).collect(),
    }];
    let signals: Vec<Series> = SIGNALS
        .iter()
        .map(|name| Series {
            name: name.replace('_', " "),
            values: days
                .iter()
                .map(|d| d.signals.get(*name).copied().unwrap_or(0) as f64)
                .collect(),
        })
        .collect();
    let layers: BTreeSet<&String> = days.iter().flat_map(|d| d.rewritten.keys()).collect();
    let triggers: Vec<Series> = layers
        .iter()
        .map(|layer| Series {
            name: (*layer).clone(),
            values: days
                .iter()
                .map(|d| d.rewritten.get(*layer).copied().unwrap_or(0) as f64)
                .collect(),
        })
        .collect();
    let turns = vec![Series {
        name: "turns".into(),
        values: days.iter().map(|d| d.turns as f64).collect(),
    }];
    format!(
        "<section class=\"charts\"><h2>Per day</h2>{}{}{}{}</section>",
        line_chart(
            "defect-rate",
            "Defect rate (turns whose friction signals say likely defective)",
            &labels,
            &defect,
            share
        ),
        line_chart(
            "signals",
            "Friction signals (turns with each)",
            &labels,
            &signals,
            count
        ),
        line_chart(
            "triggers",
            "Rewrites applied, by layer",
            &labels,
            &triggers,
            count
        ),
        line_chart("turns", "Turns", &labels, &turns, count),
    )
}

fn failing(insights: Option<&Insights>) -> String {
    let rows: Vec<Vec<Cell>> = insights
        .map_or(&[][..], |i| i.failing.as_slice())
        .iter()
        .map(|r| {
            vec![
                r.text.clone().into(),
                r.likely_defects.to_string().into(),
                r.turns.to_string().into(),
                percent(r.likely_defects as f64 / r.turns.max(1) as f64).into(),
                r.users.to_string().into(),
            ]
        })
        .collect();
    table(
        "failing",
        &[
            "request (as heard)",
            "likely defects",
            "turns",
            "defect rate",
            "people",
        ],
        &rows,
        "No request has failed yet.",
    )
}

/// A button the page's script turns into `POST` or `DELETE /v1/admin/blocks`.
fn block_button(source: Option<&str>, target: &str, blocked: bool) -> String {
    let (action, label) = if blocked {
        ("unblock", "Unblock")
    } else {
        ("block", "Block")
    };
    format!(
        "<button type=\"button\" data-action=\"{action}\" data-source=\"{}\" data-target=\"{}\">{label}</button>",
        escape(source.unwrap_or("")),
        escape(target)
    )
}

fn rewrites(table_in_force: Option<&RewriteTable>, blocks: &BlockList) -> String {
    let rows: Vec<Vec<Cell>> = table_in_force
        .map_or(&[][..], |t| t.entries.as_slice())
        .iter()
        .map(|e| {
            let is_blocked = blocks.is_blocked(&e.source, &e.target);
            vec![
                e.source.clone().into(),
                e.target.clone().into(),
                format!(
                    "said {} times; reformulated into the target {} times by {} people",
                    e.source_count, e.pair_count, e.pair_users
                )
                .into(),
                format!(
                    "{} → {} (path {})",
                    percent(e.source_success),
                    percent(e.target_success),
                    percent(e.path_success)
                )
                .into(),
                e.target_meaning.clone().unwrap_or_default().into(),
                if is_blocked { "blocked" } else { "served" }.into(),
                Cell::Markup(block_button(Some(&e.source), &e.target, is_blocked)),
            ]
        })
        .collect();
    table(
        "rewrites",
        &[
            "source",
            "target",
            "evidence",
            "success: source → target",
            "target meaning",
            "status",
            "",
        ],
        &rows,
        "No precomputed rewrite learned yet.",
    )
}

fn applied(insights: Option<&Insights>) -> String {
    let rows: Vec<Vec<Cell>> = insights
        .map_or(&[][..], |i| i.applied.as_slice())
        .iter()
        .map(|a| {
            vec![
                a.layer.clone().into(),
                a.source.clone().into(),
                a.target.clone().into(),
                a.turns.to_string().into(),
                a.wins().to_string().into(),
                a.likely_defects.to_string().into(),
                if a.likely_defects == 0 {
                    "—".to_owned()
                } else {
                    format!("{:.1}", a.wins() as f64 / a.likely_defects as f64)
                }
                .into(),
            ]
        })
        .collect();
    table(
        "applied",
        &[
            "layer",
            "heard",
            "sent to NLU",
            "turns",
            "wins",
            "losses",
            "win:loss",
        ],
        &rows,
        "No logged turn was rewritten yet (the assistant reports applied rewrites in the event's rewrite record).",
    )
}

fn rolled_back(table_in_force: Option<&RewriteTable>) -> String {
    let rows: Vec<Vec<Cell>> = table_in_force
        .map_or(&[][..], |t| t.rolled_back.as_slice())
        .iter()
        .map(|r| {
            vec![
                r.source.clone().into(),
                r.target.clone().into(),
                format!(
                    "{:.2} over {} turns",
                    r.friction_rewritten, r.rewritten_turns
                )
                .into(),
                format!(
                    "{:.2} over {} turns",
                    r.friction_without, r.unrewritten_turns
                )
                .into(),
            ]
        })
        .collect();
    table(
        "rolled-back",
        &["source", "target", "friction rewritten", "friction without"],
        &rows,
        "Nothing rolled back in this set.",
    )
}

fn held(table_in_force: Option<&RewriteTable>) -> String {
    let rows: Vec<Vec<Cell>> = table_in_force
        .map_or(&[][..], |t| t.held.as_slice())
        .iter()
        .map(|e| {
            vec![
                e.source.clone().into(),
                e.target.clone().into(),
                e.target_meaning.clone().unwrap_or_default().into(),
                format!("{} people", e.pair_users).into(),
            ]
        })
        .collect();
    table(
        "held",
        &["source", "target", "target meaning", "evidence"],
        &rows,
        "Nothing held.",
    )
}

fn blocked(blocks: &[Block]) -> String {
    let rows: Vec<Vec<Cell>> = blocks
        .iter()
        .map(|b| {
            vec![
                b.source
                    .clone()
                    .unwrap_or_else(|| "(any request)".into())
                    .into(),
                b.target.clone().into(),
                civil_date(b.at_ms.div_euclid(86_400_000)).into(),
                Cell::Markup(block_button(b.source.as_deref(), &b.target, true)),
            ]
        })
        .collect();
    let mut out = table(
        "blocked",
        &["source", "target", "since", ""],
        &rows,
        "No rewrite is blocked.",
    );
    let _ = write!(
        out,
        "<p class=\"hint\">A blocked rewrite is never served, whatever later learns find; the list is kept beside the event log.</p>"
    );
    out
}
