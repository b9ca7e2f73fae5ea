//! Character-level tokenizer: one id per distinct character of a text, in sorted order.

use std::collections::HashMap;

use crate::error::{DataError, Result};

/// Maps characters to ids `0..vocab_size` and back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharTokenizer {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

impl CharTokenizer {
    /// The vocabulary of every distinct character in `text`, sorted by code point.
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self::from_chars(chars)
    }

    /// A tokenizer over the given characters, in the given order (ids are positions).
    pub fn from_chars(chars: Vec<char>) -> Self {
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32))
            .collect();
        Self { chars, ids }
    }

    /// Number of distinct characters.
    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// The characters, indexed by id.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Encodes text; a character outside the vocabulary is an error naming it and its position.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.char_indices()
            .map(|(position, ch)| {
                self.ids
                    .get(&ch)
                    .copied()
                    .ok_or(DataError::UnknownChar { ch, position })
            })
            .collect()
    }

    /// Decodes ids; an id outside the vocabulary becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&i| self.chars.get(i as usize).copied().unwrap_or('\u{fffd}'))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_sorted_ids_and_round_trips() {
        let tok = CharTokenizer::from_text("hello world");
        assert_eq!(tok.chars(), &[' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']);
        let ids = tok.encode("hold").unwrap();
        assert_eq!(ids, vec![3, 5, 4, 1]);
        assert_eq!(tok.decode(&ids), "hold");
    }

    #[test]
    fn unknown_char_is_an_error_with_position() {
        let tok = CharTokenizer::from_text("abc");
        let err = tok.encode("abxc").unwrap_err();
        assert!(matches!(
            err,
            DataError::UnknownChar {
                ch: 'x',
                position: 2
            }
        ));
    }

    #[test]
    fn shakespeare_vocabulary_size() {
        let corpus = crate::TextCorpus::shakespeare().unwrap();
        let tok = CharTokenizer::from_text(corpus.text());
        // Counted with `python3 -c "print(len(set(open(f).read())))"` on the shipped text.
        assert_eq!(tok.vocab_size(), VOCAB_SIZE_COUNTED);
    }

    const VOCAB_SIZE_COUNTED: usize = 83;
}
