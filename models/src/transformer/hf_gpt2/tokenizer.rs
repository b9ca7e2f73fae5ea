//! GPT-2's byte-level BPE tokenizer (Radford et al. 2019, §2.2), read from a checkpoint's
//! `vocab.json` and `merges.txt`: text is split by GPT-2's pre-tokenization pattern, each piece's
//! UTF-8 bytes are written as printable characters (the `bytes_to_unicode` table of OpenAI's
//! `encoder.py`), and adjacent symbols are merged in the order `merges.txt` ranks them.
//! Checked against Hugging Face `tokenizers` on the strings of the tests' data.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;

use super::Gpt2Error;

/// GPT-2's pre-tokenization pattern without its look-ahead (`\s+(?!\S)`), which
/// [`Gpt2Tokenizer::pieces`] applies by hand: contractions, a letter run, a digit run or a run
/// of other symbols (each with one optional leading space), or whitespace.
const PIECES: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";

/// The special token GPT-2 separates documents with; where the vocabulary has it, its text is
/// encoded as that one token.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// The largest `vocab.json` or `merges.txt` read: 64 MiB (GPT-2's are 1.0 MB and 456 KB).
pub const MAX_TOKENIZER_FILE_BYTES: u64 = 64 << 20;

/// GPT-2's tokenizer: vocabulary, merge ranks and the byte table.
#[derive(Clone, Debug)]
pub struct Gpt2Tokenizer {
    ids: HashMap<String, u32>,
    tokens: Vec<String>,
    ranks: HashMap<(String, String), usize>,
    byte_chars: [char; 256],
    char_bytes: HashMap<char, u8>,
    pieces: Regex,
}

/// OpenAI's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the other 68 take
/// the code points from 256 up, in byte order.
fn byte_table() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 256u32;
    std::array::from_fn(|b| {
        let b = b as u8;
        if printable(b) {
            char::from(b)
        } else {
            let c = char::from_u32(next).expect("below the surrogates");
            next += 1;
            c
        }
    })
}

impl Gpt2Tokenizer {
    /// Reads `vocab.json` and `merges.txt` from a checkpoint directory; either larger than
    /// [`MAX_TOKENIZER_FILE_BYTES`] is refused before it is read.
    pub fn from_dir(dir: &Path) -> Result<Self, Gpt2Error> {
        let read = |name: &str| {
            let path = dir.join(name);
            let io = |source| Gpt2Error::Io {
                file: path.display().to_string(),
                source,
            };
            let size = std::fs::metadata(&path).map_err(io)?.len();
            if size > MAX_TOKENIZER_FILE_BYTES {
                return Err(Gpt2Error::Config {
                    file: path.display().to_string(),
                    problem: format!(
                        "{size} bytes, more than a tokenizer file holds \
                         ({MAX_TOKENIZER_FILE_BYTES})"
                    ),
                });
            }
            std::fs::read_to_string(&path).map_err(io)
        };
        Self::from_texts(&read("vocab.json")?, &read("merges.txt")?, dir)
    }

    /// The tokenizer from the texts of `vocab.json` and `merges.txt` (`dir` names them in
    /// errors).
    pub fn from_texts(vocab: &str, merges: &str, dir: &Path) -> Result<Self, Gpt2Error> {
        let file = |name: &str| dir.join(name).display().to_string();
        let bad = |name: &str, problem: String| Gpt2Error::Config {
            file: file(name),
            problem,
        };
        let ids: HashMap<String, u32> =
            serde_json::from_str(vocab).map_err(|e| bad("vocab.json", e.to_string()))?;
        let mut tokens = vec![String::new(); ids.len()];
        for (token, &id) in &ids {
            let slot = tokens.get_mut(id as usize).ok_or_else(|| {
                bad(
                    "vocab.json",
                    format!("id {id} of {token:?} is not below the {} tokens", ids.len()),
                )
            })?;
            if !slot.is_empty() {
                return Err(bad("vocab.json", format!("id {id} is given twice")));
            }
            *slot = token.clone();
        }
        let mut ranks = HashMap::new();
        for (line_number, line) in merges.lines().enumerate() {
            if line.starts_with("#version") || line.trim().is_empty() {
                continue;
            }
            let (a, b) = line.split_once(' ').ok_or_else(|| {
                bad(
                    "merges.txt",
                    format!("line {}: {line:?} is not two symbols", line_number + 1),
                )
            })?;
            let rank = ranks.len();
            ranks.entry((a.to_string(), b.to_string())).or_insert(rank);
        }
        let byte_chars = byte_table();
        let char_bytes = (0..=255u8).map(|b| (byte_chars[b as usize], b)).collect();
        Ok(Self {
            ids,
            tokens,
            ranks,
            byte_chars,
            char_bytes,
            pieces: Regex::new(PIECES).expect("a valid pattern"),
        })
    }

    /// Tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The ids of `text`.
    ///
    /// # Errors
    /// If a merged symbol is not in the vocabulary (a `vocab.json` and `merges.txt` that do not
    /// belong together).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut ids = Vec::new();
        let special = self.ids.get(END_OF_TEXT).copied();
        let mut parts = text.split(END_OF_TEXT).peekable();
        while let Some(part) = parts.next() {
            for piece in self.pieces(part) {
                for symbol in self.merge(piece) {
                    let id = self
                        .ids
                        .get(&symbol)
                        .ok_or_else(|| format!("the symbol {symbol:?} is not in vocab.json"))?;
                    ids.push(*id);
                }
            }
            if parts.peek().is_some() {
                match special {
                    Some(id) => ids.push(id),
                    None => {
                        // Without the special token its text is ordinary text.
                        for symbol in self.pieces(END_OF_TEXT).flat_map(|p| self.merge(p)) {
                            ids.push(*self.ids.get(&symbol).ok_or_else(|| {
                                format!("the symbol {symbol:?} is not in vocab.json")
                            })?);
                        }
                    }
                }
            }
        }
        Ok(ids)
    }

    /// The text of `ids` (bytes that do not form UTF-8 are replaced by U+FFFD).
    ///
    /// # Errors
    /// If an id is not below [`vocab_size`](Self::vocab_size).
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        let mut bytes = Vec::new();
        for &id in ids {
            let token = self
                .tokens
                .get(id as usize)
                .ok_or_else(|| format!("id {id} is not below {}", self.tokens.len()))?;
            if token == END_OF_TEXT {
                bytes.extend_from_slice(END_OF_TEXT.as_bytes());
                continue;
            }
            for c in token.chars() {
                match self.char_bytes.get(&c) {
                    Some(&b) => bytes.push(b),
                    None => bytes.extend_from_slice(c.to_string().as_bytes()),
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `text` cut as GPT-2's pattern cuts it; a whitespace run followed by more text gives its
    /// last character to the next piece (the pattern's `\s+(?!\S)`).
    fn pieces<'t>(&self, text: &'t str) -> impl Iterator<Item = &'t str> + 't {
        let pieces = self.pieces.clone();
        let mut at = 0;
        std::iter::from_fn(move || {
            let found = pieces.find_at(text, at)?;
            let mut end = found.end();
            let piece = &text[found.start()..end];
            let all_space = piece.chars().all(char::is_whitespace);
            if all_space && end < text.len() && piece.chars().count() > 1 {
                end -= piece.chars().last().map_or(0, char::len_utf8);
            }
            at = end;
            Some(&text[found.start()..end])
        })
    }

    /// One piece's symbols after every merge `merges.txt` allows, lowest rank first.
    fn merge(&self, piece: &str) -> Vec<String> {
        let mut symbols: Vec<String> = piece
            .bytes()
            .map(|b| self.byte_chars[b as usize].to_string())
            .collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(i, pair)| {
                    self.ranks
                        .get(&(pair[0].clone(), pair[1].clone()))
                        .map(|&rank| (rank, i))
                })
                .min();
            let Some((rank, _)) = best else {
                return symbols;
            };
            // Merge every occurrence of that pair, left to right.
            let mut merged = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if i + 1 < symbols.len()
                    && self
                        .ranks
                        .get(&(symbols[i].clone(), symbols[i + 1].clone()))
                        == Some(&rank)
                {
                    merged.push(format!("{}{}", symbols[i], symbols[i + 1]));
                    i += 2;
                } else {
                    merged.push(symbols[i].clone());
                    i += 1;
                }
            }
            symbols = merged;
        }
    }
}
