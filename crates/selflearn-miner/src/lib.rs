//! Precomputed rewrites: which requests keep failing and what they should have been, mined
//! offline from how people reformulate, with an absorbing Markov chain ([`chain`]), into a
//! versioned rewrite table ([`table`]) consulted before NLU.

#![warn(missing_docs)]

pub mod chain;
pub mod mine;
pub mod table;

pub use mine::{LAYER, Mined, Miner, MinerConfig, RewriteEntry, RolledBack, mine};
pub use table::{RewriteTable, TableError};
