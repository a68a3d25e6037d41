//! One check per parser. Each takes arbitrary bytes and panics only on a finding.

use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use selflearn_engine::Layered;
use selflearn_miner::RewriteTable;
use selflearn_online::{CachedModel, Encoder, Layers, Lexicon, OnlineModel};
use selflearn_types::{RewriteRequest, Rewriter};

/// A fuzz target: its name (the corpus folder `fuzz/corpus/<name>`) and its check.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The cargo-fuzz target and corpus folder.
    pub name: &'static str,
    /// The check.
    pub check: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "event",
        check: event,
    },
    Target {
        name: "jsonl",
        check: jsonl,
    },
    Target {
        name: "rewrite_request",
        check: rewrite_request,
    },
    Target {
        name: "rewrite_table",
        check: rewrite_table,
    },
    Target {
        name: "online",
        check: online,
    },
    Target {
        name: "encoder",
        check: encoder,
    },
    Target {
        name: "lexicon",
        check: lexicon,
    },
    Target {
        name: "manifest",
        check: manifest,
    },
    Target {
        name: "partial",
        check: partial,
    },
];

/// The seed of the encoder the online fixtures are keyed to (an online artifact is served
/// only with the encoder it was learned with).
pub const FIXTURE_ENCODER_SEED: u64 = 1;

/// One event as `POST /v1/events` and `ingest` read it: refused, or valid and still valid once
/// written back as JSON (what is stored can be read again).
pub fn event(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = selflearn_types::parse_event(text) {
        let written = serde_json::to_string(&parsed).expect("an event serialises");
        if let Err(e) = selflearn_types::parse_event(&written) {
            panic!("an accepted event is refused once written back: {e:?}\n{written}");
        }
    }
}

/// A JSONL file as `ingest` reads it: every record is an event or an error naming its line,
/// and the read ends.
pub fn jsonl(data: &[u8]) {
    let mut last_line = 0;
    for record in selflearn_log::jsonl::read_jsonl(Cursor::new(data)) {
        match record {
            Ok((selflearn_log::Position::Line(line), parsed)) => {
                assert!(line > last_line, "line {line} after {last_line}");
                last_line = line;
                selflearn_types::validate(&parsed).expect("a record read is valid");
            }
            Ok((position, _)) => panic!("a JSONL record at {position:?}, not a line"),
            Err(_) => {}
        }
    }
}

/// A `POST /v1/rewrite` body: refused, or answered by learned layers without a panic, with
/// an answer that is the request's text unless a layer rewrote it.
pub fn rewrite_request(data: &[u8]) {
    let Ok(request) = serde_json::from_slice::<RewriteRequest>(data) else {
        return;
    };
    if selflearn_types::validate_request(&request).is_err() {
        return;
    }
    let answer = fixture_rewriter().rewrite(&request);
    if !answer.rewritten {
        assert_eq!(
            answer.text, request.text,
            "an unchanged answer changed the text"
        );
    }
}

/// A rewrite table file: refused, or loaded, saved and loaded again to the same table.
pub fn rewrite_table(data: &[u8]) {
    if let Ok(table) = RewriteTable::from_bytes(data, "fuzz") {
        let again =
            RewriteTable::from_bytes(&table.to_bytes(), "fuzz").expect("a saved table loads again");
        assert_eq!(again, table);
        let _ = table.lookup("turn on the kitchen lights");
    }
}

/// An online artifact: refused, or loaded, answering a request, saved and loaded again.
pub fn online(data: &[u8]) {
    let encoder = fixture_encoder().clone();
    if let Ok(model) = OnlineModel::from_bytes(data, "fuzz", encoder.clone()) {
        let request = sample_request("play some music");
        let _ = model.rewrite(&request, Layers::GlobalAndPersonal);
        let again = OnlineModel::from_bytes(&model.to_bytes(), "fuzz", encoder.clone())
            .expect("a saved online artifact loads again");
        assert_eq!(again.artifact(), model.artifact());
        // Cut into shards as a set stores it, and put back together, it is the same model;
        // the input read as a shard is refused or added, never a panic.
        let all = selflearn_types::shard::ShardRange::all(4);
        let (main, shards) = model.to_shards(all.count);
        let mut whole = OnlineModel::from_bytes(&main, "fuzz", encoder)
            .expect("an artifact without its personal layer loads");
        for shard in &shards {
            whole
                .add_shard(shard, "fuzz", all)
                .expect("a shard of the model loads");
        }
        assert_eq!(whole.artifact(), model.artifact());
        let _ = whole.add_shard(data, "fuzz", all);
    }
}

/// An encoder file (safetensors): refused, or an encoder whose encodings are unit length or
/// zero.
pub fn encoder(data: &[u8]) {
    if let Ok(encoder) = Encoder::from_bytes(data, "fuzz") {
        let encoding = encoder.encode("set a timer for ten minutes");
        let norm: f32 = encoding.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            norm.is_nan() || norm == 0.0 || (norm - 1.0).abs() < 1e-3 || !norm.is_finite(),
            "encoding of norm {norm}"
        );
    }
}

/// A pronunciation lexicon: refused, or one whose similarities are numbers in [0, 1].
pub fn lexicon(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(lexicon) = Lexicon::parse(text, "fuzz") {
        let similarity = lexicon.similarity("play chopin", "play show pan");
        assert!(
            (0.0..=1.0).contains(&similarity),
            "similarity {similarity} outside [0, 1]"
        );
    }
}

/// An artifact set's manifest: refused, or one naming only bare file names.
pub fn manifest(data: &[u8]) {
    if let Ok(manifest) = selflearn_engine::set::parse_manifest(data, Path::new("fuzz")) {
        for entry in &manifest.artifacts {
            assert!(
                !entry.file.contains('/') && !entry.file.starts_with('.'),
                "{:?} accepted as a file name in the set",
                entry.file
            );
        }
    }
}

/// A partial learner file (`learn --partial`): refused, or it finishes without a panic (an
/// error is an answer too). Its own settings digest is taken, so that mutations reach the
/// learners' state.
pub fn partial(data: &[u8]) {
    use selflearn_engine::{Learned, OnlineLayersLearner, PrecomputedLearner};
    let online = OnlineLayersLearner::new(
        fixture_encoder().clone(),
        Arc::new(Lexicon::default()),
        Default::default(),
    );
    if let Ok(learned) = Learned::partial_from_bytes(
        data,
        Path::new("fuzz"),
        None,
        PrecomputedLearner::new(Default::default()),
        Some(online),
    ) {
        let _ = learned.finish("fuzz", Arc::from(""));
    }
}

fn fixture_encoder() -> &'static Encoder {
    static ENCODER: OnceLock<Encoder> = OnceLock::new();
    ENCODER.get_or_init(|| Encoder::random(FIXTURE_ENCODER_SEED))
}

/// Layers learned from a world's log (trimmed, see `fixtures/README.md`), built once.
fn fixture_rewriter() -> &'static Layered {
    static LAYERED: OnceLock<Layered> = OnceLock::new();
    LAYERED.get_or_init(|| {
        let table = RewriteTable::from_bytes(
            include_bytes!("../fixtures/rewrite-table.json"),
            "fixtures/rewrite-table.json",
        )
        .expect("the fixture table loads");
        let lexicon = Lexicon::parse(Lexicon::EMBEDDED, "the built-in lexicon")
            .expect("the built-in lexicon parses");
        let model = OnlineModel::from_bytes(
            include_bytes!("../fixtures/online.json"),
            "fixtures/online.json",
            fixture_encoder().clone(),
        )
        .expect("the fixture online artifact loads")
        .with_lexicon(Arc::new(lexicon));
        Layered::serving(
            Some(table),
            Some(Arc::new(CachedModel::new(
                model,
                Layers::GlobalAndPersonal,
                1 << 20,
            ))),
        )
    })
}

fn sample_request(text: &str) -> RewriteRequest {
    serde_json::from_value(serde_json::json!({
        "user_id": "u1",
        "device": {"id": "d1", "kind": "speaker", "has_screen": false},
        "text": text,
    }))
    .expect("a sample request")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(name)
    }

    /// Every input the fuzzers kept, and every seed, through its check.
    #[test]
    fn the_committed_corpus_passes_every_check() {
        for target in TARGETS {
            let dir = corpus(target.name);
            let mut inputs = 0;
            for entry in fs_err::read_dir(&dir).expect("each target has a corpus") {
                let path = entry.expect("a corpus entry").path();
                let bytes = fs_err::read(&path).expect("a corpus file");
                (target.check)(&bytes);
                inputs += 1;
            }
            assert!(inputs > 0, "{} has an empty corpus", dir.display());
        }
    }

    #[test]
    fn the_fixture_layers_rewrite_a_request_they_learned() {
        let layered = fixture_rewriter();
        let table =
            RewriteTable::from_bytes(include_bytes!("../fixtures/rewrite-table.json"), "fixture")
                .expect("loads");
        let source = &table
            .entries
            .first()
            .expect("the fixture has rewrites")
            .source;
        let answer = layered.rewrite(&sample_request(source));
        assert!(answer.rewritten, "{source:?} is not rewritten: {answer:?}");
    }
}
