//! The flags every training example shares (`--backend`, `--seed`, `--data`, `--limit`,
//! `--out`): one clap struct, flattened into each example's arguments, so the same flag means
//! the same thing everywhere. Each example states its own defaults through [`ExampleDefaults`];
//! `--help` shows them.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::path::PathBuf;

use burn::tensor::Device;

use super::backend_choice::{BackendChoice, device_for};

/// What one example's common flags default to.
pub trait ExampleDefaults: Clone + Debug + Send + Sync + 'static {
    /// The example's name, for error messages.
    const NAME: &'static str;
    /// `--seed` when it is not given, as text (clap's derive caches a `default_value_t` in a
    /// static that every `D` would share, so the default is given as text instead).
    const SEED: &'static str;
    /// `--out` when it is not given.
    const OUT: &'static str;
    /// The `--help` line of `--data`, or `None` for an example that generates its data (then
    /// `--data` is hidden, and rejected when given). Fashion-MNIST's directory unless said.
    const DATA_HELP: Option<&'static str> = Some(FASHION_MNIST_HELP);
    /// The `--help` line of `--limit`, or `None` where the example has nothing to limit (then
    /// `--limit` is hidden, and rejected when given). Fashion-MNIST's images unless said.
    const LIMIT_HELP: Option<&'static str> = FASHION_MNIST_LIMIT_HELP;
    /// Why `--data` or `--limit` does not apply, where one does not.
    const NOT_APPLICABLE: &'static str = "it generates its data";
}

/// The Fashion-MNIST directory line of `--data`, shared by the examples that train on it.
pub const FASHION_MNIST_HELP: &str = "Directory with the Fashion-MNIST IDX files [default: \
     $TEMPERING_DATA, then /usr/share/datasets/fashion-mnist, then the sample shipped with \
     tempering-data].";

/// The `--limit` line of the examples that train on Fashion-MNIST.
pub const FASHION_MNIST_LIMIT_HELP: Option<&str> =
    Some("Use only the first N training images (for quick runs).");

/// The Fashion-MNIST sample shipped with tempering-data (4,000 training and 1,000 test images),
/// where the examples' tests train.
pub fn shipped_sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/data/fashion-mnist-sample")
}

/// The flags every training example shares, with `D`'s defaults.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs<D: ExampleDefaults> {
    /// Compute backend [default: Burn's choice among the compiled ones, `BURN_DEVICE` overrides].
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// Seed of the initialization, the data order and every other random choice.
    #[arg(long, default_value = D::SEED)]
    pub seed: u64,
    /// The data to train on (see `--help`).
    #[arg(long, help = D::DATA_HELP.unwrap_or("Not used: this example generates its data."),
          hide = D::DATA_HELP.is_none())]
    pub data: Option<PathBuf>,
    /// How much of the training data to use (see `--help`).
    #[arg(long, help = D::LIMIT_HELP.unwrap_or("Not used by this example."),
          hide = D::LIMIT_HELP.is_none())]
    pub limit: Option<usize>,
    /// Output directory.
    #[arg(long, default_value = D::OUT)]
    pub out: PathBuf,
    #[arg(skip)]
    defaults: PhantomData<D>,
}

impl<D: ExampleDefaults> Default for CommonArgs<D> {
    /// The example's defaults, as when no common flag is given.
    fn default() -> Self {
        Self {
            backend: None,
            seed: D::SEED
                .parse()
                .unwrap_or_else(|e| panic!("{}'s default seed: {e}", D::NAME)),
            data: None,
            limit: None,
            out: PathBuf::from(D::OUT),
            defaults: PhantomData,
        }
    }
}

impl<D: ExampleDefaults> CommonArgs<D> {
    /// These flags with `--out` set to `out`.
    pub fn with_out(mut self, out: impl Into<PathBuf>) -> Self {
        self.out = out.into();
        self
    }

    /// These flags with `--seed` set to `seed`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// These flags with `--limit` set to `limit`.
    pub fn with_limit(mut self, limit: Option<usize>) -> Self {
        self.limit = limit;
        self
    }

    /// These flags with `--data` set to `data`.
    pub fn with_data(mut self, data: Option<PathBuf>) -> Self {
        self.data = data;
        self
    }

    /// Rejects `--data` and `--limit` where they do not apply, and a `--limit` of 0, naming
    /// the flag.
    pub fn validate(&self) -> Result<(), String> {
        for (flag, given, applies) in [
            ("--data", self.data.is_some(), D::DATA_HELP.is_some()),
            ("--limit", self.limit.is_some(), D::LIMIT_HELP.is_some()),
        ] {
            if given && !applies {
                return Err(format!(
                    "{flag} does not apply to {}: {}",
                    D::NAME,
                    D::NOT_APPLICABLE
                ));
            }
        }
        if self.limit == Some(0) {
            return Err("--limit must be at least 1".into());
        }
        Ok(())
    }

    /// The device of `--backend` (Burn's default device without it).
    pub fn device(&self) -> Result<Device, String> {
        device_for(self.backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Clone, Debug)]
    struct Reads;
    impl ExampleDefaults for Reads {
        const NAME: &'static str = "reads";
        const SEED: &'static str = "7";
        const OUT: &'static str = "runs/reads";
        const DATA_HELP: Option<&'static str> = Some("A data directory.");
        const LIMIT_HELP: Option<&'static str> = Some("The first N items.");
    }

    #[derive(Clone, Debug)]
    struct Generates;
    impl ExampleDefaults for Generates {
        const NAME: &'static str = "generates";
        const SEED: &'static str = "3";
        const OUT: &'static str = "runs/generates";
        const DATA_HELP: Option<&'static str> = None;
        const LIMIT_HELP: Option<&'static str> = None;
    }

    #[derive(clap::Parser, Debug)]
    struct Cli<D: ExampleDefaults> {
        #[command(flatten)]
        common: CommonArgs<D>,
    }

    #[test]
    fn defaults_are_the_examples_own_and_match_default() {
        let parsed = Cli::<Reads>::try_parse_from(["reads"]).unwrap().common;
        assert_eq!(parsed.seed, 7);
        assert_eq!(parsed.out, PathBuf::from("runs/reads"));
        let default = CommonArgs::<Reads>::default();
        assert_eq!((default.seed, default.out), (parsed.seed, parsed.out));
        let other = Cli::<Generates>::try_parse_from(["g"]).unwrap().common;
        assert_eq!(
            (other.seed, other.out),
            (3, PathBuf::from("runs/generates"))
        );
    }

    #[test]
    fn data_flags_are_refused_where_the_example_generates_its_data() {
        let given = Cli::<Generates>::try_parse_from(["g", "--data", "x"]).unwrap();
        let e = given.common.validate().unwrap_err();
        assert!(e.contains("--data") && e.contains("generates"), "{e}");
        let limit = Cli::<Generates>::try_parse_from(["g", "--limit", "5"]).unwrap();
        assert!(limit.common.validate().unwrap_err().contains("--limit"));
        let reads = Cli::<Reads>::try_parse_from(["r", "--data", "x", "--limit", "5"]).unwrap();
        reads.common.validate().unwrap();
        let zero = Cli::<Reads>::try_parse_from(["r", "--limit", "0"]).unwrap();
        assert!(zero.common.validate().unwrap_err().contains("--limit"));
        assert!(Cli::<Reads>::try_parse_from(["r", "--backend", "cuda"]).is_err());
    }
}
