//! The seam between the channel and a language model: intents become text
//! in Speak and text becomes intents again in Deliver. The `lm` folder
//! provides the implementation; the channel only knows this trait.

use bevy::prelude::*;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{Dialect, Intent};

/// A language model as the channel uses it. Every method is batched over
/// its slice and writes one result per item into `out` (cleared first);
/// `None` means the model produced nothing usable for that item.
pub trait Language: Send + Sync + 'static {
    /// Short name for logs (e.g. `colony-lm`).
    fn name(&self) -> &str;
    /// Says each intent in its dialect.
    fn say(&mut self, items: &[(Intent, Dialect)], out: &mut Vec<Option<String>>);
    /// Translates each utterance into its target dialect.
    fn translate(&mut self, items: &[(&str, Dialect)], out: &mut Vec<Option<String>>);
    /// Reads each utterance back into an intent.
    fn read(&mut self, items: &[&str], out: &mut Vec<Option<Intent>>);
}

/// The language model of this world (present when `comm` is `Llm`).
#[derive(Resource)]
pub struct LanguageModel(pub Box<dyn Language>);

/// With probability `p`, drops or swaps one character of `text`, never a
/// digit or a digit's neighbour (coordinates stay intact, as in training).
pub fn add_channel_noise(text: &mut String, p: f32, rng: &mut ChaCha8Rng) {
    if p <= 0.0 || rng.random::<f32>() >= p {
        return;
    }
    let chars: Vec<char> = text.chars().collect();
    let safe = |i: usize| {
        let digit = |j: Option<&char>| j.is_some_and(|c| c.is_ascii_digit());
        !digit(chars.get(i)) && !digit(i.checked_sub(1).and_then(|j| chars.get(j))) && !digit(chars.get(i + 1))
    };
    let spots: Vec<usize> = (0..chars.len()).filter(|&i| safe(i)).collect();
    if spots.is_empty() {
        return;
    }
    let i = spots[rng.random_range(0..spots.len())];
    let mut out = chars.clone();
    if rng.random::<bool>() || i + 1 >= out.len() || !safe(i + 1) {
        out.remove(i);
    } else {
        out.swap(i, i + 1);
    }
    *text = out.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn noise_changes_letters_but_never_digits() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut changed = 0;
        for _ in 0..200 {
            let mut t = "i see food over at 12, 7".to_string();
            add_channel_noise(&mut t, 1.0, &mut rng);
            changed += usize::from(t != "i see food over at 12, 7");
            let digits: String = t.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(digits, "127", "{t}");
        }
        assert!(changed > 150);
    }
}
