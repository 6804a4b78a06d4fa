//! Intents: what agents can say, with a canonical text form (`FOOD 12 7`)
//! that is the ground truth for the language model.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of things an agent can say (one definition, shared with the
/// language model's corpus).
pub use crate::lm::IntentKind;

/// One message's meaning: a kind and a grid cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Intent {
    /// What is said.
    pub kind: IntentKind,
    /// Column of the cell.
    pub x: i32,
    /// Row of the cell.
    pub y: i32,
}

impl Intent {
    /// An intent about cell (x, y).
    pub fn new(kind: IntentKind, x: i32, y: i32) -> Self {
        Self { kind, x, y }
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.kind.keyword(), self.x, self.y)
    }
}

/// Text that is not a canonical intent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a canonical intent (expected e.g. `FOOD 12 7`): {0:?}")]
pub struct ParseIntentError(pub String);

impl FromStr for Intent {
    type Err = ParseIntentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseIntentError(s.to_owned());
        let mut parts = s.split_whitespace();
        let kind = parts.next().ok_or_else(err)?;
        let kind = IntentKind::ALL.into_iter().find(|k| k.keyword() == kind).ok_or_else(err)?;
        let coord =
            |p: Option<&str>| p.and_then(|t| t.parse::<i32>().ok()).filter(|v| (0..64).contains(v)).ok_or_else(err);
        let x = coord(parts.next())?;
        let y = coord(parts.next())?;
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Intent { kind, x, y })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_round_trips() {
        for kind in IntentKind::ALL {
            let i = Intent::new(kind, 12, 7);
            assert_eq!(i.to_string().parse::<Intent>(), Ok(i));
        }
        assert_eq!(Intent::new(IntentKind::Food, 12, 7).to_string(), "FOOD 12 7");
        assert!("FOOD 12".parse::<Intent>().is_err());
        assert!("FOOD 12 99".parse::<Intent>().is_err());
        assert!("SNACK 1 2".parse::<Intent>().is_err());
        assert!("FOOD 1 2 3".parse::<Intent>().is_err());
    }
}
