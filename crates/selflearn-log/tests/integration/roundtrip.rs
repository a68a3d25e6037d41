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
