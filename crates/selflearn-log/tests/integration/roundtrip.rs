use std::collections::HashSet;

use proptest::prelude::*;
use selflearn_log::jsonl::{read_jsonl, write_jsonl};
use selflearn_log::parquet::{read_parquet, write_parquet};
use selflearn_log::{EventLog, LogOptions, ScanOrder};
use selflearn_types::TurnEvent;
use selflearn_types::testing::arb_event;

fn unique_events() -> impl Strategy<Value = Vec<TurnEvent>> {
    prop::collection::vec(arb_event(), 1..24).prop_map(|events| {
        let mut seen = HashSet::new();
        events
            .into_iter()
            .filter(|e| seen.insert(e.event_id.clone()))
            .collect()
    })
}

fn scan_all(log: &EventLog) -> Vec<TurnEvent> {
    let mut events = Vec::new();
    log.scan(ScanOrder::Arrival, |e| {
        events.push(e);
        Ok(())
    })
    .unwrap();
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any valid events survive JSONL → log → Parquet → log unchanged, in order.
    #[test]
    fn events_round_trip_through_jsonl_log_parquet_log(events in unique_events()) {
        let dir = tempfile::tempdir().unwrap();
        let mut jsonl = Vec::new();
        write_jsonl(&mut jsonl, &events).unwrap();

        let mut first = EventLog::open(&dir.path().join("first"), &LogOptions::default()).unwrap();
        first.append_records(read_jsonl(&jsonl[..]), &mut |_| {}).unwrap();
        let stored = scan_all(&first);
        prop_assert_eq!(&stored, &events);

        let parquet = dir.path().join("events.parquet");
        write_parquet(&parquet, stored).unwrap();
        let mut second = EventLog::open(&dir.path().join("second"), &LogOptions::default()).unwrap();
        second.append_records(read_parquet(&parquet).unwrap(), &mut |_| {}).unwrap();
        prop_assert_eq!(scan_all(&second), events);
    }
}

#[test]
fn an_export_that_fails_leaves_no_partial_file_and_a_finished_one_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EventLog::open(&dir.path().join("log"), &LogOptions::default()).unwrap();
    log.append(&selflearn_types::testing::generated_events(30, 3))
        .unwrap();
    for name in ["out.jsonl", "out.parquet"] {
        // A directory where the file should go: everything is written, the last move fails.
        let blocked = dir.path().join(format!("blocked-{name}")).join(name);
        fs_err::create_dir_all(&blocked).unwrap();
        let err = selflearn_log::files::export(&log, &blocked, None, ScanOrder::Arrival);
        assert!(err.is_err(), "{name}");
        let left: Vec<_> = fs_err::read_dir(blocked.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from(name)], "only the directory");
        let out = dir.path().join(name);
        let written = selflearn_log::files::export(&log, &out, None, ScanOrder::UserTime).unwrap();
        assert_eq!(written, 30);
        let back = if name.ends_with("parquet") {
            read_parquet(&out).unwrap().count()
        } else {
            read_jsonl(std::io::BufReader::new(fs_err::File::open(&out).unwrap())).count()
        };
        assert_eq!(back, 30, "{name}");
    }
}
