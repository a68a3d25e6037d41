//! The world log every criterion bench measures on, built once per bench binary.

use std::sync::OnceLock;

use selflearn_types::TurnEvent;
use selflearn_world::Dataset;

/// Households and days of the benches' world: large enough that every layer learns
/// something, small enough to build in seconds.
pub const HOUSEHOLDS: u32 = 40;
/// Days it lives.
pub const DAYS: u32 = 7;

/// The turns of the benches' world (no rewriting), in time order.
pub fn events() -> &'static [TurnEvent] {
    static EVENTS: OnceLock<Vec<TurnEvent>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let data = Dataset::load(&Dataset::default_dir()).expect("the world's data loads");
        selflearn_bench::fixture::world_log(&data, HOUSEHOLDS, DAYS).expect("the world runs")
    })
}
