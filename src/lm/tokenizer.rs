//! Character-level tokenizer (tokenizers crate WordLevel over single characters), trained on the corpus,
//! saved as a standard `tokenizer.json`; plus prompt construction at the token level.

use std::path::Path;

use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use super::LmError;
use super::corpus::{self, SPECIAL_TOKENS, Task};
use super::intent::Dialect;

fn tk_err(e: impl std::fmt::Display) -> LmError {
    LmError::Tokenizer(e.to_string())
}

/// The tokenizer plus the ids of its special tokens (looked up explicitly; missing ones are an error).
#[derive(Clone)]
pub struct LmTokenizer {
    /// The underlying `tokenizers` tokenizer.
    pub inner: Tokenizer,
    /// Id of `<pad>`.
    pub pad: u32,
    /// Id of `<unk>`.
    pub unk: u32,
    /// Id of `<bos>`.
    pub bos: u32,
    /// Id of `<eos>`.
    pub eos: u32,
    /// Id of `<sep>`.
    pub sep: u32,
    /// Id of `<say>`.
    pub say: u32,
    /// Id of `<read>`.
    pub read: u32,
    /// Id of `<tr>`.
    pub tr: u32,
    /// Id of `<en>`.
    pub en: u32,
    /// Id of `<zh>`.
    pub zh: u32,
}

impl LmTokenizer {
    /// Train a character-level WordLevel tokenizer on the corpus' surface strings.
    pub fn train_on_corpus() -> Result<Self, LmError> {
        let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|s| AddedToken::from(s.to_string(), true)).collect();
        let model = WordLevel::builder().unk_token(corpus::TOK_UNK.to_string()).build().map_err(tk_err)?;
        let mut tok = Tokenizer::new(model);
        let split =
            Split::new(SplitPattern::Regex(".".into()), SplitDelimiterBehavior::Isolated, false).map_err(tk_err)?;
        tok.with_pre_tokenizer(Some(split));
        tok.with_decoder(Some(Fuse::new()));
        let trainer = WordLevelTrainer::builder()
            .min_frequency(0)
            .vocab_size(10_000)
            .show_progress(false)
            .special_tokens(specials.clone())
            .build()
            .map_err(tk_err)?;
        let mut trainer = TrainerWrapper::from(trainer);
        let mut texts = corpus::tokenizer_training_texts();
        // ASCII letters and common punctuation, so noisy / foreign English input maps to known tokens.
        texts.push("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,:;!?()-'/".into());
        tok.train(&mut trainer, texts.into_iter()).map_err(tk_err)?;
        tok.add_special_tokens(&specials);
        Self::from_tokenizer(tok)
    }

    /// Wrap a tokenizer, looking up the special token ids (`MissingToken` if one is absent).
    pub fn from_tokenizer(inner: Tokenizer) -> Result<Self, LmError> {
        let id = |s: &str| inner.token_to_id(s).ok_or_else(|| LmError::MissingToken(s.to_string()));
        Ok(Self {
            pad: id(corpus::TOK_PAD)?,
            unk: id(corpus::TOK_UNK)?,
            bos: id(corpus::TOK_BOS)?,
            eos: id(corpus::TOK_EOS)?,
            sep: id(corpus::TOK_SEP)?,
            say: id(corpus::TOK_SAY)?,
            read: id(corpus::TOK_READ)?,
            tr: id(corpus::TOK_TR)?,
            en: id(corpus::TOK_EN)?,
            zh: id(corpus::TOK_ZH)?,
            inner,
        })
    }

    /// Load a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, LmError> {
        if !path.exists() {
            return Err(LmError::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "missing tokenizer.json")));
        }
        Self::from_tokenizer(Tokenizer::from_file(path).map_err(tk_err)?)
    }

    /// Save as a (pretty-printed) `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<(), LmError> {
        self.inner.save(path, true).map_err(tk_err)
    }

    /// Number of tokens, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Encode surface text (special-token strings inside user text are stripped of their brackets).
    pub fn encode_text(&self, s: &str) -> Result<Vec<u32>, LmError> {
        let clean: String = s.chars().filter(|&c| c != '<' && c != '>').collect();
        Ok(self.inner.encode(clean.as_str(), false).map_err(tk_err)?.get_ids().to_vec())
    }

    /// Decode ids to text, dropping special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        self.inner.decode(ids, true).map_err(tk_err)
    }

    /// Id of the dialect's tag token (`<en>` / `<zh>`).
    pub fn dialect_id(&self, d: Dialect) -> u32 {
        match d {
            Dialect::En => self.en,
            Dialect::Zh => self.zh,
        }
    }

    /// Prompt ids: `<bos><task>[<dialect>]input<sep>`. `dialect` is the target dialect for say /
    /// translate and ignored for read.
    pub fn prompt_ids(&self, task: Task, dialect: Dialect, input: &str) -> Result<Vec<u32>, LmError> {
        let mut v = vec![self.bos];
        match task {
            Task::Say => v.extend([self.say, self.dialect_id(dialect)]),
            Task::Read => v.push(self.read),
            Task::Translate => v.extend([self.tr, self.dialect_id(dialect)]),
        }
        v.extend(self.encode_text(input)?);
        v.push(self.sep);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::corpus::{CorpusGen, Split as DataSplit};

    #[test]
    fn round_trip_and_specials() {
        let tok = LmTokenizer::train_on_corpus().expect("train tokenizer");
        assert!(tok.vocab_size() < 200, "vocab {}", tok.vocab_size());
        let mut g = CorpusGen::new(9, DataSplit::Train);
        for _ in 0..300 {
            let e = g.sample_mixed();
            for s in [&e.input, &e.answer] {
                let ids = tok.encode_text(s).expect("encode");
                assert!(!ids.contains(&tok.unk), "unk in {s:?}");
                assert_eq!(&tok.decode(&ids).expect("decode"), s);
            }
        }
        // digits are single tokens
        assert_eq!(tok.encode_text("12").expect("encode").len(), 2);
        let dir = std::env::temp_dir().join(format!("lm-tok-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let p = dir.join("tokenizer.json");
        tok.save(&p).expect("save");
        let t2 = LmTokenizer::from_file(&p).expect("load");
        assert_eq!(t2.eos, tok.eos);
        assert_eq!(
            t2.encode_text("我在 12,7 看到了食物").expect("e"),
            tok.encode_text("我在 12,7 看到了食物").expect("e")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
