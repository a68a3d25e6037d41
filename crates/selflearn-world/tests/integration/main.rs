//! Integration tests of the evaluation world.

mod realism;
