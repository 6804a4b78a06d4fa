//! Canonical intents (`KIND X Y`) and dialect tags: the string contract between the simulation and the LM.

use std::fmt;

/// Largest valid grid coordinate (inclusive).
pub const MAX_COORD: u8 = 63;

/// The four intent kinds of the colony language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum IntentKind {
    /// Food seen at x y.
    Food,
    /// Help needed at x y (a heavy item that needs several agents).
    Help,
    /// I claim the task site at x y.
    Claim,
    /// Prey seen at x y.
    Prey,
}

impl IntentKind {
    /// All kinds, in index order.
    pub const ALL: [IntentKind; 4] = [IntentKind::Food, IntentKind::Help, IntentKind::Claim, IntentKind::Prey];

    /// Upper-case keyword used in the canonical form.
    pub fn keyword(self) -> &'static str {
        match self {
            IntentKind::Food => "FOOD",
            IntentKind::Help => "HELP",
            IntentKind::Claim => "CLAIM",
            IntentKind::Prey => "PREY",
        }
    }

    /// Kind of an exact upper-case keyword (`FOOD`, `HELP`, `CLAIM`, `PREY`); `None` otherwise.
    pub fn from_keyword(s: &str) -> Option<Self> {
        match s {
            "FOOD" => Some(IntentKind::Food),
            "HELP" => Some(IntentKind::Help),
            "CLAIM" => Some(IntentKind::Claim),
            "PREY" => Some(IntentKind::Prey),
            _ => None,
        }
    }

    /// Position in [`IntentKind::ALL`] (0..4).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A canonical intent: `KIND X Y`, with `0 <= X, Y <= 63`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct CanonicalIntent {
    /// What the message is about.
    pub kind: IntentKind,
    /// X grid coordinate (`0..=MAX_COORD`).
    pub x: u8,
    /// Y grid coordinate (`0..=MAX_COORD`).
    pub y: u8,
}

impl CanonicalIntent {
    /// Build an intent; returns `None` if a coordinate is out of range.
    pub fn new(kind: IntentKind, x: u8, y: u8) -> Option<Self> {
        (x <= MAX_COORD && y <= MAX_COORD).then_some(Self { kind, x, y })
    }

    /// Canonical written form, e.g. `FOOD 12 7`.
    pub fn to_canonical(&self) -> String {
        format!("{} {} {}", self.kind.keyword(), self.x, self.y)
    }

    /// Strict parser of the canonical form: exactly `KIND X Y` separated by single spaces
    /// (surrounding whitespace is trimmed), decimal coordinates without leading `+`/`-`,
    /// no leading zeros except `0` itself, each in `0..=63`.
    pub fn parse_canonical(s: &str) -> Option<Self> {
        let s = s.trim();
        let mut parts = s.split(' ');
        let kind = IntentKind::from_keyword(parts.next()?)?;
        let x = parse_coord(parts.next()?)?;
        let y = parse_coord(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Self::new(kind, x, y)
    }
}

fn parse_coord(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() == 2 && s.starts_with('0') {
        return None;
    }
    let v: u8 = s.parse().ok()?;
    (v <= MAX_COORD).then_some(v)
}

impl fmt::Display for CanonicalIntent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical())
    }
}

/// Surface dialects of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Dialect {
    /// English-like dialect, tag `en`.
    En,
    /// Chinese-like dialect, tag `zh`.
    Zh,
}

impl Dialect {
    /// Both dialects.
    pub const ALL: [Dialect; 2] = [Dialect::En, Dialect::Zh];

    /// Short tag: `en` or `zh`.
    pub fn code(self) -> &'static str {
        match self {
            Dialect::En => "en",
            Dialect::Zh => "zh",
        }
    }

    /// Dialect of a tag (`en` / `zh`, case-insensitive, surrounding whitespace ignored).
    pub fn from_code(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Dialect::En),
            "zh" => Some(Dialect::Zh),
            _ => None,
        }
    }

    /// Heuristic dialect of a surface string: any CJK ideograph means `Zh`, otherwise `En`.
    pub fn detect(s: &str) -> Dialect {
        if s.chars().any(is_cjk) { Dialect::Zh } else { Dialect::En }
    }

    /// Special token that selects this dialect in prompts.
    pub fn tag_token(self) -> &'static str {
        match self {
            Dialect::En => "<en>",
            Dialect::Zh => "<zh>",
        }
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::from_code(s).ok_or_else(|| format!("unknown dialect {s:?} (expected en or zh)"))
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// CJK unified ideographs (basic block and extension A) plus CJK punctuation / full-width forms.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_round_trip() {
        for kind in IntentKind::ALL {
            for (x, y) in [(0, 0), (12, 7), (63, 63), (9, 10)] {
                let i = CanonicalIntent::new(kind, x, y).expect("in range");
                assert_eq!(CanonicalIntent::parse_canonical(&i.to_canonical()), Some(i));
            }
        }
        for bad in ["FOOD 64 1", "FOOD 1", "food 1 2", "FOOD 01 2", "FOOD 1 2 3", "FOOD -1 2", "", "FOOD  1 2"] {
            assert_eq!(CanonicalIntent::parse_canonical(bad), None, "{bad:?}");
        }
        assert_eq!(Dialect::detect("食物在 1 2"), Dialect::Zh);
        assert_eq!(Dialect::detect("food at 1 2"), Dialect::En);
    }
}
