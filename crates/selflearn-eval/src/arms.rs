//! The A/B's arms: control, and each of selflearn's layers added in turn, plus the peer
//! baseline.

use serde::Serialize;

/// An A/B arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The assistant as it is.
    Control,
    /// Precomputed rewrites mined nightly with the absorbing Markov chain.
    Precomputed,
    /// Precomputed, then the global online layer.
    Global,
    /// Precomputed, then the global and the personal online layers.
    Personal,
    /// The peer baseline alone: fuzzy matching to a known successful request.
    Fuzzy,
}

/// Every arm, in report order.
pub const ARMS: [Arm; 5] = [
    Arm::Control,
    Arm::Precomputed,
    Arm::Global,
    Arm::Personal,
    Arm::Fuzzy,
];

impl Arm {
    /// The arm this one adds a layer to (none for control and the baseline).
    pub fn previous(self) -> Option<Arm> {
        match self {
            Arm::Control | Arm::Fuzzy => None,
            Arm::Precomputed => Some(Arm::Control),
            Arm::Global => Some(Arm::Precomputed),
            Arm::Personal => Some(Arm::Global),
        }
    }

    /// Whether the arm learns the online layers (and so needs the encoder).
    pub fn online(self) -> bool {
        matches!(self, Arm::Global | Arm::Personal | Arm::Fuzzy)
    }

    /// The arm's name, as flags and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Control => "control",
            Arm::Precomputed => "precomputed",
            Arm::Global => "global",
            Arm::Personal => "personal",
            Arm::Fuzzy => "fuzzy",
        }
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Arm {
    type Err = crate::EvalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ARMS.into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| crate::EvalError::UnknownArm(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arm_parses_from_its_name_and_nothing_else_does() {
        for arm in ARMS {
            assert_eq!(arm.name().parse::<Arm>().unwrap(), arm);
        }
        assert!("Control".parse::<Arm>().is_err());
    }
}
