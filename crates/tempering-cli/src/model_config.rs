//! Which kind of model a `--config` file describes: a character language model's `run.json`
//! (`train_char_lm`) or an image classifier's `model.json` (the quickstart, `train_vit`,
//! `local_learning`), told apart by the classifier file's top-level `classifier` key before
//! either is parsed for real.

use std::path::Path;

/// The largest config file read: a model's config is a few kilobytes.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// What a `--config` file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModelConfig {
    /// A character language model's `run.json`.
    CharLm,
    /// An image classifier's `model.json`.
    Classifier,
}

/// The kind of the model config at `path`; an error names a path that is not a regular file,
/// is larger than a config can be, or is not a JSON object.
pub(crate) fn model_config_kind(path: &Path) -> Result<ModelConfig, String> {
    let problem = |what: String| format!("--config {}: {what}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| problem(e.to_string()))?;
    if !meta.is_file() {
        return Err(problem("not a regular file".into()));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(problem(format!(
            "{} bytes; a model config (run.json, model.json) is a few kilobytes",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| problem(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| problem(format!("not JSON: {e}")))?;
    match value.as_object() {
        Some(fields) if fields.contains_key("classifier") => Ok(ModelConfig::Classifier),
        Some(_) => Ok(ModelConfig::CharLm),
        None => Err(problem(
            "not a JSON object; a model config is a run's run.json or a classifier's model.json"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let kind = |path: &Path| model_config_kind(path);
        assert_eq!(
            kind(&write("a.json", r#"{"classifier": {"Mlp": {}}}"#)),
            Ok(ModelConfig::Classifier)
        );
        assert_eq!(
            kind(&write("b.json", r#"{"model": {}, "alphabet": "ab"}"#)),
            Ok(ModelConfig::CharLm)
        );
        let e = kind(&write("c.json", "[1, 2]")).unwrap_err();
        assert!(e.contains("not a JSON object"), "{e}");
        let e = kind(&write("d.json", "{")).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = kind(dir.path()).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
