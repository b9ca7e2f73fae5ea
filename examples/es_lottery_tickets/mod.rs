//! Lottery tickets in evolution strategies at CPU scale (Lange & Sprekeler, "Lottery Tickets in
//! Evolutionary Optimization: On Sparse Backpropagation-Free Trainability", ICML 2023): a
//! Fashion-MNIST classifier (no hidden layer by default, as the paper's MNIST network) pruned
//! by iterative magnitude pruning with rewinding, each round 20 % of what is left, its tickets
//! trained by OpenAI-ES (`tempering_train::evolution`) and, separately, by gradient descent
//! (Adam). At 80 / 90 / 95 / 98 % sparsity (the first round that reaches each) it compares
//!
//! - the ticket against a random mask of the same per-tensor sparsity from the same
//!   initialization, under each trainer;
//! - ES tickets against SGD tickets, each trained by its own method and by the other's.
//!
//! The binary `es_lottery_tickets` is a thin command line over [`run`]; tests call [`run`].

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor};
use tempering_core::split_mix::SplitMix64;
use tempering_data::{FashionMnist, FashionMnistBatcher, FashionMnistDataset, FashionMnistSource};
use tempering_models::{ImageClassifier, MlpClassifier, MlpClassifierConfig};
use tempering_prune::ModuleMasks;
use tempering_prune::lottery::{LotteryConfig, TicketRound, lottery_tickets};
use tempering_train::evolution::{OpenEsConfig, es_train};
use tempering_train::{Panel, Series, plot_panels};

use crate::common::common_args::{CommonArgs, ExampleDefaults, shipped_sample};
use crate::common::fashion_classifier::FashionClassifier;
use crate::common::masked_training::train_epochs;
use crate::common::test_evaluation::evaluate;
use crate::common::train_split::train_split;
use crate::common::weight_counts::total_counts;

/// es_lottery_tickets' defaults of the common flags.
#[derive(Clone, Debug)]
pub struct EsLottery;

impl ExampleDefaults for EsLottery {
    const NAME: &'static str = "es_lottery_tickets";
    const SEED: &'static str = "0";
    const OUT: &'static str = "runs/es_lottery_tickets";
}

/// Command-line options of `es_lottery_tickets`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "es_lottery_tickets",
    about = "Iterative magnitude pruning with rewinding of a Fashion-MNIST classifier, tickets \
             trained by OpenAI-ES and by Adam, against random masks and against each other."
)]
pub struct EsLotteryArgs {
    /// Hidden layer widths, comma-separated (none: a linear classifier, the paper's MNIST
    /// network).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Vec<usize>,
    /// Pruning rounds after the dense one (18 reach 98.2 %).
    #[arg(long, default_value_t = 18)]
    pub rounds: usize,
    /// Fraction of the remaining weights each round keeps (the paper's 0.8).
    #[arg(long, default_value_t = 0.8)]
    pub keep_per_round: f64,
    /// Sparsities compared, comma-separated (the first round reaching each).
    #[arg(long, value_delimiter = ',', default_value = "0.8,0.9,0.95,0.98")]
    pub levels: Vec<f64>,
    /// ES generations per training.
    #[arg(long, default_value_t = 300)]
    pub generations: usize,
    /// ES antithetic pairs (population twice this).
    #[arg(long, default_value_t = 32)]
    pub pairs: usize,
    /// ES learning rate (Adam on the search gradient; evosax's default 0.01).
    #[arg(long, default_value_t = 0.01)]
    pub es_lr: f32,
    /// ES initial σ (evosax's 0.04).
    #[arg(long, default_value_t = 0.04)]
    pub sigma: f32,
    /// Images per ES generation and per SGD step.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Epochs of Adam per SGD training.
    #[arg(long, default_value_t = 3)]
    pub sgd_epochs: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub sgd_lr: f64,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<EsLottery>,
}

impl EsLotteryArgs {
    /// A toy-scale run on the Fashion-MNIST sample shipped with tempering-data (1,024 training
    /// images, 3 rounds, 30 generations); the tests start from it.
    pub fn on_shipped_sample(out: PathBuf) -> Self {
        Self {
            hidden: Vec::new(),
            rounds: 3,
            keep_per_round: 0.5,
            levels: vec![0.5, 0.75],
            generations: 30,
            pairs: 8,
            es_lr: 0.01,
            sigma: 0.04,
            batch_size: 128,
            sgd_epochs: 1,
            sgd_lr: 1e-3,
            common: CommonArgs::default()
                .with_data(Some(shipped_sample()))
                .with_out(out)
                .with_limit(Some(1024)),
        }
    }

    /// Rejects values that cannot run, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.common.validate()?;
        if self.hidden.contains(&0) {
            return Err("--hidden widths must be positive".into());
        }
        if !(self.keep_per_round > 0.0 && self.keep_per_round < 1.0) {
            return Err(format!(
                "--keep-per-round must be in (0, 1), got {}",
                self.keep_per_round
            ));
        }
        if self.generations == 0 || self.batch_size == 0 || self.sgd_epochs == 0 {
            return Err("--generations, --batch-size and --sgd-epochs must be at least 1".into());
        }
        self.es_config().check().map_err(|e| format!("ES: {e}"))?;
        let config = LotteryConfig {
            keep_per_round: self.keep_per_round,
            ..LotteryConfig::new(self.rounds)
        };
        if let Some(level) = self
            .levels
            .iter()
            .find(|&&l| config.round_reaching(l).is_none() || l <= 0.0)
        {
            return Err(format!(
                "--levels: {level} is not reached by --rounds {} at --keep-per-round {} (the \
                 last round's sparsity is {:.3})",
                self.rounds,
                self.keep_per_round,
                config.sparsity(self.rounds)
            ));
        }
        Ok(())
    }

    fn es_config(&self) -> OpenEsConfig {
        OpenEsConfig {
            pairs: self.pairs,
            sigma: self.sigma,
            learning_rate: self.es_lr,
            ..OpenEsConfig::default()
        }
    }
}

/// Test accuracies (%) at one sparsity.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// The level asked for.
    pub target: f64,
    /// The sparsity of the round that reached it.
    pub sparsity: f64,
    /// ES ticket trained by ES.
    pub es_ticket: f64,
    /// Random mask trained by ES.
    pub es_random: f64,
    /// SGD ticket trained by ES.
    pub sgd_ticket_by_es: f64,
    /// SGD ticket trained by SGD.
    pub sgd_ticket: f64,
    /// Random mask trained by SGD.
    pub sgd_random: f64,
    /// ES ticket trained by SGD.
    pub es_ticket_by_sgd: f64,
}

/// What a run measured and wrote.
#[derive(Clone, Debug)]
pub struct EsLotteryReport {
    /// Where the data came from.
    pub source: FashionMnistSource,
    /// `(sparsity, accuracy %)` of every ES round, dense first.
    pub es_rounds: Vec<(f64, f64)>,
    /// The same for the SGD rounds.
    pub sgd_rounds: Vec<(f64, f64)>,
    /// The comparisons at each level.
    pub levels: Vec<Level>,
    /// The Markdown table (also in `table.md`).
    pub table: String,
    /// The PNG of accuracy against sparsity.
    pub plot_path: PathBuf,
}

/// The training images and labels, on the device, as one batch.
fn whole(
    split: &FashionMnistDataset,
    device: &Device,
) -> Result<(Tensor<3>, Tensor<1, Int>), Box<dyn Error>> {
    let items = (0..split.len())
        .map(|i| split.get(i))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = FashionMnistBatcher.batch(items, device);
    Ok((batch.images, batch.targets))
}

/// Everything the trainers share.
struct Setup<'a> {
    args: &'a EsLotteryArgs,
    train: &'a FashionMnistDataset,
    test: &'a FashionMnistDataset,
    images: Tensor<3>,
    targets: Tensor<1, Int>,
    device: Device,
}

impl Setup<'_> {
    /// Trains `ticket` by OpenAI-ES, the entries `masks` prunes held at zero; `seed` draws the
    /// noise and the batches.
    fn es(&self, ticket: MlpClassifier, masks: Option<&ModuleMasks>, seed: u64) -> MlpClassifier {
        let n = self.images.dims()[0];
        let batch = self.args.batch_size.min(n);
        // One random batch per generation, the same for every candidate.
        let mut rng = SplitMix64::new(seed ^ 0x5eed);
        let batches: Vec<Tensor<1, Int>> = (0..self.args.generations)
            .map(|_| {
                let ids: Vec<i64> = (0..batch).map(|_| rng.below(n) as i64).collect();
                Tensor::from_ints(ids.as_slice(), &self.device)
            })
            .collect();
        let loss = |m: &MlpClassifier, g: usize| {
            let ids = batches[g].clone();
            let logits = m.logits(self.images.clone().select(0, ids.clone()));
            CrossEntropyLossConfig::new()
                .init(&self.device)
                .forward(logits, self.targets.clone().select(0, ids))
                .into_scalar::<f64>()
        };
        es_train(
            ticket,
            |id| masks.and_then(|m| m.keep(id)),
            &self.args.es_config(),
            self.args.generations,
            seed,
            loss,
            &mut |_, _| {},
        )
    }

    /// Trains `ticket` by Adam for `--sgd-epochs`, masked by `masks`; refuses a result where a
    /// pruned weight came back.
    fn sgd(
        &self,
        ticket: MlpClassifier,
        masks: Option<&ModuleMasks>,
        seed: u64,
    ) -> Result<MlpClassifier, String> {
        let model = FashionClassifier::new(ticket).train();
        let trained = train_epochs(
            model,
            masks,
            self.train,
            self.args.batch_size,
            seed,
            self.args.sgd_epochs,
            self.args.sgd_lr,
        )
        .model
        .valid();
        if let Some(masks) = masks {
            let (kept, total) = total_counts(&trained);
            let zeros = 1.0 - kept as f64 / total as f64;
            if zeros + 1e-9 < masks.sparsity() {
                return Err(format!(
                    "masked training regrew weights: {:.4} zero against the mask's {:.4}",
                    zeros,
                    masks.sparsity()
                ));
            }
        }
        Ok(trained)
    }

    /// Test accuracy (%) of `model`.
    fn accuracy(&self, model: &MlpClassifier) -> Result<f64, Box<dyn Error>> {
        let wrapped = FashionClassifier::new(model.clone());
        Ok(evaluate(&wrapped, self.test.clone(), 1000, &self.device)?.accuracy)
    }
}

/// Trains, prunes, compares and writes the outputs; progress goes to stderr.
pub fn run(args: &EsLotteryArgs) -> Result<EsLotteryReport, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    let data = FashionMnist::load(args.common.data.as_deref())?;
    let train = train_split(&data, args.common.limit);
    let test = data.test();
    let (images, targets) = whole(&train, &device)?;
    let setup = Setup {
        args,
        train: &train,
        test: &test,
        images,
        targets,
        device: device.clone(),
    };
    device.seed(args.common.seed);
    let init = MlpClassifierConfig::new()
        .with_hidden_sizes(args.hidden.clone())
        .with_dropout(0.0)
        .init(&device);
    let config = LotteryConfig {
        keep_per_round: args.keep_per_round,
        ..LotteryConfig::new(args.rounds)
    };
    let seed = args.common.seed;
    let started = Instant::now();
    let es_rounds = lottery_tickets(init.clone(), &config, |ticket, masks, round| {
        let trained = setup.es(ticket, masks, seed + round as u64);
        eprintln!(
            "ES  round {round:>2}: sparsity {:.1} %, {:.1} s",
            100.0 * config.sparsity(round),
            started.elapsed().as_secs_f64()
        );
        Ok::<_, String>(trained)
    })?;
    let sgd_rounds = lottery_tickets(init.clone(), &config, |ticket, masks, round| {
        setup.sgd(ticket, masks, seed + round as u64)
    })?;
    let curve = |rounds: &[TicketRound<MlpClassifier>]| -> Result<Vec<(f64, f64)>, Box<dyn Error>> {
        rounds
            .iter()
            .map(|r| Ok((r.sparsity, setup.accuracy(&r.trained)?)))
            .collect()
    };
    let (es_curve, sgd_curve) = (curve(&es_rounds)?, curve(&sgd_rounds)?);
    let mut levels = Vec::new();
    for &target in &args.levels {
        let r = config
            .round_reaching(target)
            .expect("validate checked the levels");
        let (es_masks, sgd_masks) = (mask_of(&es_rounds, r), mask_of(&sgd_rounds, r));
        let random_es = es_masks.shuffled(seed + 1000 + r as u64);
        let random_sgd = sgd_masks.shuffled(seed + 2000 + r as u64);
        let from = |masks: &ModuleMasks| masks.apply(init.clone());
        let s = seed + r as u64;
        let level = Level {
            target,
            sparsity: config.sparsity(r),
            es_ticket: es_curve[r].1,
            es_random: setup.accuracy(&setup.es(from(&random_es), Some(&random_es), s))?,
            sgd_ticket_by_es: setup.accuracy(&setup.es(from(sgd_masks), Some(sgd_masks), s))?,
            sgd_ticket: sgd_curve[r].1,
            sgd_random: setup.accuracy(&setup.sgd(from(&random_sgd), Some(&random_sgd), s)?)?,
            es_ticket_by_sgd: setup.accuracy(&setup.sgd(from(es_masks), Some(es_masks), s)?)?,
        };
        eprintln!("{}", row(&level));
        levels.push(level);
    }
    let table = table(&es_curve, &sgd_curve, &levels);
    std::fs::create_dir_all(&args.common.out)?;
    tempering_core::atomic_write::write_atomically(&args.common.out.join("table.md"), |w| {
        std::io::Write::write_all(w, table.as_bytes())
    })?;
    let plot_path = args.common.out.join("accuracy_vs_sparsity.png");
    plot(&plot_path, &es_curve, &sgd_curve, &levels)?;
    Ok(EsLotteryReport {
        source: data.source().clone(),
        es_rounds: es_curve,
        sgd_rounds: sgd_curve,
        levels,
        table,
        plot_path,
    })
}

/// The mask of round `r` (≥ 1).
fn mask_of(rounds: &[TicketRound<MlpClassifier>], r: usize) -> &ModuleMasks {
    rounds[r].masks.as_ref().expect("round ≥ 1 has a mask")
}

fn row(l: &Level) -> String {
    format!(
        "| {:.1} % | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        100.0 * l.sparsity,
        l.es_ticket,
        l.es_random,
        l.sgd_ticket_by_es,
        l.sgd_ticket,
        l.sgd_random,
        l.es_ticket_by_sgd
    )
}

fn table(es: &[(f64, f64)], sgd: &[(f64, f64)], levels: &[Level]) -> String {
    let mut t = format!(
        "dense: {:.2} % trained by ES, {:.2} % by Adam\n\n",
        es[0].1, sgd[0].1
    );
    t.push_str(
        "| sparsity | ES: ES ticket | ES: random mask | ES: SGD ticket | SGD: SGD ticket | SGD: \
         random mask | SGD: ES ticket |\n|---|---|---|---|---|---|---|\n",
    );
    for l in levels {
        let _ = writeln!(t, "{}", row(l));
    }
    t
}

fn plot(
    path: &std::path::Path,
    es: &[(f64, f64)],
    sgd: &[(f64, f64)],
    levels: &[Level],
) -> std::io::Result<()> {
    let points = |f: &dyn Fn(&Level) -> f64| -> Vec<(f64, f64)> {
        levels.iter().map(|l| (100.0 * l.sparsity, f(l))).collect()
    };
    let percent = |c: &[(f64, f64)]| c.iter().map(|&(s, a)| (100.0 * s, a)).collect();
    let panel = |title: &str, series: Vec<Series>| Panel {
        title: title.into(),
        x_label: "sparsity (%)".into(),
        y_label: "test accuracy (%)".into(),
        series,
    };
    let series = |label: &str, points: Vec<(f64, f64)>| Series {
        label: label.into(),
        points,
    };
    let panels = [
        panel(
            "trained by OpenAI-ES",
            vec![
                series("ES ticket (IMP rounds)", percent(es)),
                series("random mask", points(&|l| l.es_random)),
                series("SGD ticket", points(&|l| l.sgd_ticket_by_es)),
            ],
        ),
        panel(
            "trained by Adam",
            vec![
                series("SGD ticket (IMP rounds)", percent(sgd)),
                series("random mask", points(&|l| l.sgd_random)),
                series("ES ticket", points(&|l| l.es_ticket_by_sgd)),
            ],
        ),
    ];
    plot_panels(path, &panels, (1400, 560))
}
