//! Configuration: compiled-in defaults, then a TOML file, then `SELFLEARN__SECTION__KEY`
//! environment variables, then command-line flags. Unknown keys are an error at every layer.

use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use selflearn_log::LogConfig;
use selflearn_miner::MinerConfig;
use selflearn_online::OnlineConfig;
use selflearn_server::ServerConfig;
use selflearn_signals::SignalConfig;
use selflearn_types::sensitive::SensitiveConfig;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The event log.
    pub log: LogConfig,
    /// The HTTP service.
    pub server: ServerConfig,
    /// Thresholds of precomputed-rewrite mining (`learn`).
    pub miner: MinerConfig,
    /// The online rewriting layers.
    pub online: OnlineConfig,
    /// Session building and friction detection (`learn`, `train`).
    pub signals: SignalConfig,
    /// Rewrites toward sensitive requests, held until an operator approves them (`learn`).
    pub sensitive: SensitiveConfig,
}

/// Prefix of environment overrides, e.g. `SELFLEARN__SERVER__BIND`.
pub const ENV_PREFIX: &str = "SELFLEARN__";

impl Config {
    /// Loads defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.is_file(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .context("invalid configuration")
    }
}

#[cfg(test)]
mod tests {
    use selflearn_log::SyncPolicy;

    use super::*;

    #[test]
    fn the_documented_example_file_equals_the_compiled_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/selflearn.toml");
        let text = fs_err::read_to_string(&path).unwrap();
        let from_file: Config = toml_from(&text);
        assert_eq!(from_file, Config::default());
    }

    fn toml_from(text: &str) -> Config {
        Figment::from(Toml::string(text)).extract().unwrap()
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment's Jail fixes the closure's error type"
    )]
    fn file_then_environment_override_defaults_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "a.toml",
                "[server]\nbind = \"0.0.0.0:9000\"\n[log]\nsync = \"normal\"\n",
            )?;
            jail.set_env("SELFLEARN__SERVER__MAX_BATCH_EVENTS", "7");
            let config = Config::load(Some(Path::new("a.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.server.bind, "0.0.0.0:9000");
            assert_eq!(config.server.max_batch_events, 7);
            assert_eq!(config.log.sync, SyncPolicy::Normal);
            assert_eq!(config.log.dir, LogConfig::default().dir);

            jail.create_file("bad.toml", "[server]\nbnid = \"x\"\n")?;
            let err = format!(
                "{:#}",
                Config::load(Some(Path::new("bad.toml"))).unwrap_err()
            );
            assert!(err.contains("bnid"), "{err}");

            jail.set_env("SELFLEARN__LOG__COLOUR", "red");
            let err = format!("{:#}", Config::load(None).unwrap_err());
            assert!(err.contains("colour"), "{err}");
            Ok(())
        });
    }
}
