//! Writes the fuzzers' seed corpus and the fixtures of the rewrite target from a learned
//! artifact set and the log it was learned from, trimmed so that a fuzzer mutates small
//! inputs:
//!
//! ```sh
//! selflearn-fuzz-seeds SET_DIR EVENTS.jsonl
//! ```
//!
//! writes `fuzz/corpus/<target>/seed-*` and `crates/selflearn-fuzz/fixtures/*` (paths from the
//! repository root, the working directory). `scripts/fuzz.sh --seeds` runs it on the world the
//! main command builds.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use selflearn_engine::manifest::{Kind, MANIFEST_FILE};
use selflearn_fuzz::targets::FIXTURE_ENCODER_SEED;
use selflearn_online::{Encoder, OnlineModel};
use serde_json::Value;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [set, events] = args.as_slice() else {
        bail!("usage: selflearn-fuzz-seeds SET_DIR EVENTS.jsonl");
    };
    let set = Path::new(set);
    let manifest = selflearn_engine::set::read_manifest(&set.join(MANIFEST_FILE))?;
    let file = |kind: Kind| -> anyhow::Result<PathBuf> {
        let entry = manifest
            .entry(kind)
            .with_context(|| format!("the set has no {kind:?}"))?;
        Ok(set.join(&entry.file))
    };
    let corpus = Path::new("fuzz/corpus");
    let fixtures = Path::new("crates/selflearn-fuzz/fixtures");
    let write = |dir: &Path, name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        fs_err::create_dir_all(dir)?;
        fs_err::write(dir.join(name), bytes)?;
        Ok(())
    };
    let key = Encoder::random(FIXTURE_ENCODER_SEED).digest();

    let table: Value = serde_json::from_slice(&fs_err::read(file(Kind::RewriteTable)?)?)?;
    write(
        fixtures,
        "rewrite-table.json",
        &pretty(&trimmed_table(table.clone(), 12))?,
    )?;
    write(
        &corpus.join("rewrite_table"),
        "seed-1",
        &pretty(&trimmed_table(table, 2))?,
    )?;

    let online: Value = serde_json::from_slice(&fs_err::read(file(Kind::Online)?)?)?;
    for (dir, name, global, users, per_user) in [
        (fixtures.to_path_buf(), "online.json", 60, 4, 12),
        (corpus.join("online"), "seed-1", 3, 1, 2),
    ] {
        let bytes = serde_json::to_vec(&trimmed_online(
            online.clone(),
            &key,
            global,
            users,
            per_user,
        ))?;
        OnlineModel::from_bytes(&bytes, name, Encoder::random(FIXTURE_ENCODER_SEED))
            .context("a trimmed online artifact loads")?;
        write(&dir, name, &bytes)?;
    }

    let lexicon = fs_err::read_to_string(file(Kind::Lexicon)?)?;
    let head: String = lexicon.lines().take(12).map(|l| format!("{l}\n")).collect();
    write(&corpus.join("lexicon"), "seed-1", head.as_bytes())?;
    write(
        &corpus.join("manifest"),
        "seed-1",
        &fs_err::read(set.join(MANIFEST_FILE))?,
    )?;
    // A projection of the wrong shape: the loader's header and shape checks, in few bytes (a
    // real one is 4 MiB, too large to mutate quickly).
    write(&corpus.join("encoder"), "seed-1", &safetensors_2x2())?;

    let text = fs_err::read_to_string(events)?;
    let lines: Vec<&str> = text.lines().collect();
    let picked: Vec<&str> = lines
        .iter()
        .step_by(lines.len().div_ceil(6).max(1))
        .copied()
        .collect();
    for (i, line) in picked.iter().enumerate() {
        write(&corpus.join("event"), &format!("seed-{i}"), line.as_bytes())?;
        let event = selflearn_types::parse_event(line)?;
        let request = serde_json::json!({
            "user_id": event.user_id,
            "device": event.device,
            "text": event.rewrite.as_ref().map_or(&event.asr.text, |r| &r.original_text),
            "timestamp_ms": event.timestamp_ms,
        });
        write(
            &corpus.join("rewrite_request"),
            &format!("seed-{i}"),
            &serde_json::to_vec(&request)?,
        )?;
    }
    let batch: String = lines.iter().take(3).map(|l| format!("{l}\n")).collect();
    write(&corpus.join("jsonl"), "seed-1", batch.as_bytes())?;
    println!(
        "seeds written under {} and {}",
        corpus.display(),
        fixtures.display()
    );
    Ok(())
}

/// A safetensors file of one 2 × 2 f32 tensor named `projection`, laid out by hand: the
/// header's length (u64, little-endian), the JSON header, the data.
fn safetensors_2x2() -> Vec<u8> {
    let header = br#"{"projection":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    for x in [1.0f32, 0.0, 0.0, 1.0] {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}

fn pretty(value: &Value) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(value)?)
}

fn trimmed_table(mut table: Value, entries: usize) -> Value {
    for (field, n) in [("entries", entries), ("rolled_back", 1), ("held", 1)] {
        if let Some(list) = table.get_mut(field) {
            truncate(list, n);
        }
    }
    table
}

/// The online artifact with fewer candidates, keyed to the fixture encoder (candidates are
/// encoded at load, so any encoder serves them).
fn trimmed_online(
    mut online: Value,
    key: &str,
    global: usize,
    users: usize,
    per_user: usize,
) -> Value {
    online["encoder"] = Value::String(key.to_owned());
    truncate(&mut online["global"], global);
    if let Some(personal) = online["personal"].as_object_mut() {
        let keep: Vec<String> = personal.keys().take(users).cloned().collect();
        personal.retain(|user, _| keep.contains(user));
        for candidates in personal.values_mut() {
            truncate(candidates, per_user);
        }
    }
    if let Some(said) = online["forms"]["said"].as_object_mut() {
        let keep: Vec<String> = said.keys().take(global * 2).cloned().collect();
        said.retain(|form, _| keep.contains(form));
    }
    truncate(&mut online["templates"]["carriers"], global / 3 + 1);
    if let Some(values) = online["templates"]["values"].as_object_mut() {
        for list in values.values_mut() {
            truncate(list, 4);
        }
    }
    online
}

fn truncate(value: &mut Value, n: usize) {
    if let Some(list) = value.as_array_mut() {
        list.truncate(n);
    }
}
