//! Corpus generator: paraphrase templates per dialect, channel noise, prompt formats and the held-out split.
//!
//! Prompt format (token level):
//! - say:       `<bos><say><en|zh>KIND X Y<sep>` -> `utterance<eos>`
//! - read:      `<bos><read>utterance<sep>`       -> `KIND X Y<eos>`
//! - translate: `<bos><tr><en|zh>utterance<sep>`  -> `utterance-in-target<eos>`
//!
//! Held-out split: a (kind, x, y, dialect, template) tuple is held out when a fixed FNV-1a hash of it is
//! `0 mod 10`. For `say`, the slot is [`SAY_SLOT`] instead of a template, i.e. whole
//! (intent, dialect) say prompts are held out. Training never emits a held-out tuple, neither as
//! input nor as output; evaluation samples inputs only from held-out tuples.
//!
//! Channel noise (covered by `read` and `translate` inputs): with probability `noise_prob` exactly one
//! edit is applied: drop one character, duplicate one character, or swap two adjacent characters.
//! Edits only touch characters that are not ASCII digits and whose neighbours are not ASCII digits,
//! so coordinate numbers and their separators are never altered.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::intent::{CanonicalIntent, Dialect, IntentKind, MAX_COORD};

/// Number of paraphrase templates per (dialect, kind).
pub const N_TEMPLATES: usize = 7;
/// Slot id used for held-out membership of `say` prompts.
pub const SAY_SLOT: u8 = 100;

/// Padding token (left padding in batched inference, right padding in training batches).
pub const TOK_PAD: &str = "<pad>";
/// Unknown-character token.
pub const TOK_UNK: &str = "<unk>";
/// Beginning-of-sequence token, first token of every prompt.
pub const TOK_BOS: &str = "<bos>";
/// End-of-sequence token, ends every answer.
pub const TOK_EOS: &str = "<eos>";
/// Separator between prompt input and answer.
pub const TOK_SEP: &str = "<sep>";
/// Task tag of `say` prompts.
pub const TOK_SAY: &str = "<say>";
/// Task tag of `read` prompts.
pub const TOK_READ: &str = "<read>";
/// Task tag of `translate` prompts.
pub const TOK_TR: &str = "<tr>";
/// Dialect tag: English-like (`en`).
pub const TOK_EN: &str = "<en>";
/// Dialect tag: Chinese-like (`zh`).
pub const TOK_ZH: &str = "<zh>";
/// All special tokens, in id order (ids 0..).
pub const SPECIAL_TOKENS: [&str; 10] =
    [TOK_PAD, TOK_UNK, TOK_BOS, TOK_EOS, TOK_SEP, TOK_SAY, TOK_READ, TOK_TR, TOK_EN, TOK_ZH];

const EN: [[&str; N_TEMPLATES]; 4] = [
    [
        "food at {x} {y}",
        "i see food over at {x},{y}",
        "found something to eat at ({x}, {y})",
        "there is food near {x} {y}",
        "food spotted: {x},{y}",
        "anyone hungry? grub at {x} {y}",
        "{x} {y} has food",
    ],
    [
        "help needed at {x} {y}",
        "need a hand at {x},{y}",
        "heavy load at ({x}, {y}), come help",
        "can someone help me at {x} {y}",
        "help: {x},{y}",
        "too heavy for one, lift with me at {x} {y}",
        "{x} {y} needs more hands",
    ],
    [
        "i claim {x} {y}",
        "mine: {x},{y}",
        "i am taking the site at ({x}, {y})",
        "claiming {x} {y}, stay away",
        "site {x},{y} is mine",
        "i will work at {x} {y}",
        "{x} {y} is taken by me",
    ],
    [
        "prey at {x} {y}",
        "spotted prey near {x},{y}",
        "an animal is running at ({x}, {y})",
        "hunt at {x} {y}",
        "prey: {x},{y}",
        "something to hunt around {x} {y}",
        "{x} {y} has prey",
    ],
];

const ZH: [[&str; N_TEMPLATES]; 4] = [
    [
        "食物在 {x} {y}",
        "我在 {x},{y} 看到了食物",
        "({x}, {y}) 有吃的",
        "发现食物：{x} {y}",
        "{x} {y} 附近有食物",
        "饿了吗？{x},{y} 有粮食",
        "坐标 {x} {y} 有东西吃",
    ],
    [
        "{x} {y} 需要帮忙",
        "来人帮忙，在 {x},{y}",
        "({x}, {y}) 有重物，快来帮忙",
        "求助：{x} {y}",
        "谁能来 {x} {y} 帮我一下",
        "一个人搬不动，{x},{y} 需要人手",
        "坐标 {x} {y} 需要支援",
    ],
    [
        "我占 {x} {y}",
        "{x},{y} 这个点归我了",
        "我来负责 ({x}, {y}) 的任务",
        "认领：{x} {y}",
        "{x} {y} 是我的，别过来",
        "我要在 {x},{y} 干活",
        "坐标 {x} {y} 已被我占领",
    ],
    [
        "猎物在 {x} {y}",
        "我在 {x},{y} 发现了猎物",
        "({x}, {y}) 有动物在跑",
        "去 {x} {y} 打猎",
        "猎物：{x},{y}",
        "{x} {y} 附近有野兽",
        "坐标 {x} {y} 有猎物",
    ],
];

/// The paraphrase template `t` of `kind` in `dialect` (with `{x}`/`{y}` placeholders).
pub fn template(dialect: Dialect, kind: IntentKind, t: usize) -> &'static str {
    match dialect {
        Dialect::En => EN[kind.index()][t % N_TEMPLATES],
        Dialect::Zh => ZH[kind.index()][t % N_TEMPLATES],
    }
}

/// Render an intent with paraphrase template `t` of `dialect`.
pub fn render(intent: &CanonicalIntent, dialect: Dialect, t: usize) -> String {
    template(dialect, intent.kind, t).replace("{x}", &intent.x.to_string()).replace("{y}", &intent.y.to_string())
}

/// Exact (noise-free) template matcher: the reference reader used for corpus checks and diagnostics.
pub fn parse_exact(utterance: &str) -> Option<(CanonicalIntent, Dialect, usize)> {
    for dialect in Dialect::ALL {
        for kind in IntentKind::ALL {
            for t in 0..N_TEMPLATES {
                let tpl = template(dialect, kind, t);
                if let Some(i) = match_template(tpl, utterance).and_then(|(x, y)| CanonicalIntent::new(kind, x, y)) {
                    return Some((i, dialect, t));
                }
            }
        }
    }
    None
}

fn match_template(tpl: &str, s: &str) -> Option<(u8, u8)> {
    let (pre, rest) = tpl.split_once("{x}")?;
    let (mid, post) = rest.split_once("{y}")?;
    let s = s.strip_prefix(pre)?.strip_suffix(post)?;
    let (xs, ys) = s.split_once(mid)?;
    let ok = |d: &str| !d.is_empty() && d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit());
    if !ok(xs) || !ok(ys) {
        return None;
    }
    Some((xs.parse().ok()?, ys.parse().ok()?))
}

/// FNV-1a based held-out membership of a (kind, x, y, dialect, slot) tuple (~10% held out).
pub fn is_held_out(kind: IntentKind, x: u8, y: u8, dialect: Dialect, slot: u8) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [0xC0u8, kind as u8, x, y, dialect as u8, slot, 0x1D] {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 29;
    h.is_multiple_of(10)
}

/// Apply one channel-noise edit (see module docs). Returns the input unchanged if no position is eligible.
pub fn apply_noise<R: RngExt>(s: &str, rng: &mut R) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let digit = |i: isize| i >= 0 && (i as usize) < n && chars[i as usize].is_ascii_digit();
    let eligible: Vec<usize> =
        (0..n).filter(|&i| !digit(i as isize) && !digit(i as isize - 1) && !digit(i as isize + 1)).collect();
    if eligible.is_empty() {
        return s.to_string();
    }
    let mut out = chars.clone();
    match rng.random_range(0..3u8) {
        0 => {
            let i = eligible[rng.random_range(0..eligible.len())];
            out.remove(i);
        }
        1 => {
            let i = eligible[rng.random_range(0..eligible.len())];
            out.insert(i, chars[i]);
        }
        _ => {
            let pairs: Vec<usize> = eligible.iter().copied().filter(|&i| eligible.contains(&(i + 1))).collect();
            if pairs.is_empty() {
                let i = eligible[rng.random_range(0..eligible.len())];
                out.remove(i);
            } else {
                let i = pairs[rng.random_range(0..pairs.len())];
                out.swap(i, i + 1);
            }
        }
    }
    out.into_iter().collect()
}

/// The three tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Task {
    /// Canonical intent + dialect -> utterance.
    Say,
    /// Utterance -> canonical intent.
    Read,
    /// Utterance + target dialect -> utterance in the target dialect.
    Translate,
}

/// Which side of the split to sample from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Only tuples that are not held out (training data).
    Train,
    /// Only held-out tuples (~10%, evaluation inputs).
    HeldOut,
}

/// One training / evaluation pair. `prompt` and `answer` are surface strings (without special tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Which task this example is for.
    pub task: Task,
    /// The intent the example expresses.
    pub intent: CanonicalIntent,
    /// say: target dialect; read: source dialect; translate: target dialect.
    pub dialect: Dialect,
    /// say: canonical string; read / translate: the (maybe noisy) source utterance.
    pub input: String,
    /// Reference answer (one valid answer; for say / translate any paraphrase is right).
    pub answer: String,
}

/// Deterministic generator of examples for a seed.
pub struct CorpusGen {
    rng: ChaCha8Rng,
    split: Split,
    /// Probability (0..=1) that a read / translate source utterance gets one channel-noise edit
    /// (default 0.3).
    pub noise_prob: f64,
}

impl CorpusGen {
    /// A generator seeded with `seed` that samples from `split`, with `noise_prob` 0.3.
    pub fn new(seed: u64, split: Split) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed), split, noise_prob: 0.3 }
    }

    fn want(&self, held: bool) -> bool {
        match self.split {
            Split::Train => !held,
            Split::HeldOut => held,
        }
    }

    fn random_intent(&mut self) -> CanonicalIntent {
        let kind = IntentKind::ALL[self.rng.random_range(0..4usize)];
        CanonicalIntent { kind, x: self.rng.random_range(0..=MAX_COORD), y: self.rng.random_range(0..=MAX_COORD) }
    }

    fn random_dialect(&mut self) -> Dialect {
        if self.rng.random_bool(0.5) { Dialect::En } else { Dialect::Zh }
    }

    /// A (intent, dialect, template) source tuple on this generator's side of the split.
    fn source_tuple(&mut self) -> (CanonicalIntent, Dialect, usize) {
        loop {
            let i = self.random_intent();
            let d = self.random_dialect();
            let t = self.rng.random_range(0..N_TEMPLATES);
            if self.want(is_held_out(i.kind, i.x, i.y, d, t as u8)) {
                return (i, d, t);
            }
        }
    }

    /// A template for an output utterance (never a held-out tuple).
    fn output_template(&mut self, i: &CanonicalIntent, d: Dialect) -> usize {
        loop {
            let t = self.rng.random_range(0..N_TEMPLATES);
            if !is_held_out(i.kind, i.x, i.y, d, t as u8) {
                return t;
            }
        }
    }

    fn maybe_noise(&mut self, s: String) -> String {
        if self.rng.random_bool(self.noise_prob) { apply_noise(&s, &mut self.rng) } else { s }
    }

    /// One example of `task` from this generator's side of the split (output utterances never use
    /// a held-out template).
    pub fn sample(&mut self, task: Task) -> Example {
        match task {
            Task::Say => loop {
                let i = self.random_intent();
                let d = self.random_dialect();
                if self.want(is_held_out(i.kind, i.x, i.y, d, SAY_SLOT)) {
                    let t = self.output_template(&i, d);
                    return Example { task, intent: i, dialect: d, input: i.to_canonical(), answer: render(&i, d, t) };
                }
            },
            Task::Read => {
                let (i, d, t) = self.source_tuple();
                let input = self.maybe_noise(render(&i, d, t));
                Example { task, intent: i, dialect: d, input, answer: i.to_canonical() }
            }
            Task::Translate => {
                let (i, d, t) = self.source_tuple();
                let input = self.maybe_noise(render(&i, d, t));
                let to = self.random_dialect();
                let tt = self.output_template(&i, to);
                Example { task, intent: i, dialect: to, input, answer: render(&i, to, tt) }
            }
        }
    }

    /// Sample with the training task mix (read 40%, translate 35%, say 25%).
    pub fn sample_mixed(&mut self) -> Example {
        let r: f64 = self.rng.random();
        let task = if r < 0.40 {
            Task::Read
        } else if r < 0.75 {
            Task::Translate
        } else {
            Task::Say
        };
        self.sample(task)
    }
}

/// Every surface string a tokenizer must cover (all template texts, digits, tags).
pub fn tokenizer_training_texts() -> Vec<String> {
    let mut v = Vec::new();
    for d in Dialect::ALL {
        for k in IntentKind::ALL {
            for t in 0..N_TEMPLATES {
                v.push(template(d, k, t).replace("{x}", "0123456789").replace("{y}", "0123456789"));
            }
        }
    }
    for k in IntentKind::ALL {
        v.push(format!("{} 0123456789", k.keyword()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_unambiguous_and_dialect_pure() {
        for d in Dialect::ALL {
            for k in IntentKind::ALL {
                for t in 0..N_TEMPLATES {
                    let i = CanonicalIntent { kind: k, x: 12, y: 7 };
                    let s = render(&i, d, t);
                    assert_eq!(parse_exact(&s), Some((i, d, t)), "{s}");
                    assert_eq!(Dialect::detect(&s), d, "{s}");
                }
            }
        }
    }

    #[test]
    fn generator_is_deterministic_and_split_is_respected() {
        let mut a = CorpusGen::new(5, Split::Train);
        let mut b = CorpusGen::new(5, Split::Train);
        for _ in 0..200 {
            assert_eq!(a.sample_mixed(), b.sample_mixed());
        }
        let mut h = CorpusGen::new(1, Split::HeldOut);
        h.noise_prob = 0.0;
        for _ in 0..200 {
            let e = h.sample(Task::Read);
            let (i, d, t) = parse_exact(&e.input).expect("clean");
            assert!(is_held_out(i.kind, i.x, i.y, d, t as u8));
        }
        let mut tr = CorpusGen::new(2, Split::Train);
        tr.noise_prob = 0.0;
        for _ in 0..500 {
            let e = tr.sample(Task::Translate);
            let (i, d, t) = parse_exact(&e.input).expect("clean");
            assert!(!is_held_out(i.kind, i.x, i.y, d, t as u8));
            let (i2, d2, t2) = parse_exact(&e.answer).expect("clean");
            assert_eq!(i, i2);
            assert!(!is_held_out(i2.kind, i2.x, i2.y, d2, t2 as u8));
        }
    }

    #[test]
    fn noise_never_touches_digits() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..500 {
            let s = "found something to eat at (12, 7)";
            let n = apply_noise(s, &mut rng);
            assert!(n.contains("(12, 7)"), "{n}");
        }
    }
}
