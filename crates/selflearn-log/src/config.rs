//! The `[log]` section of the configuration file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::{LogOptions, SyncPolicy};

/// Where the event log is and how it writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Directory of the event log.
    pub dir: PathBuf,
    /// `full`: fsync every commit (survives power loss); `normal`: survives process crashes.
    pub sync: SyncPolicy,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("selflearn-data/log"),
            sync: SyncPolicy::Full,
        }
    }
}

impl LogConfig {
    /// Options for opening the log.
    pub fn options(&self) -> LogOptions {
        LogOptions { sync: self.sync }
    }
}
