//! Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747) as a Burn [`Dataset`] and
//! [`Batcher`].
//!
//! Where the data comes from, in this order (the first that applies wins; stderr says which):
//! 1. an explicit directory passed to [`FashionMnist::load`];
//! 2. the `TEMPERING_DATA` environment variable: `$TEMPERING_DATA/fashion-mnist/`, or
//!    `$TEMPERING_DATA/` itself when it holds the files;
//! 3. `/usr/share/datasets/fashion-mnist/`, installed by Debian's `dataset-fashion-mnist`;
//! 4. a real sample shipped inside this crate (4,000 training and 1,000 test images cut from
//!    that package), so examples and tests run on a fresh machine.
//!
//! A directory named by the user (1 or 2) that lacks the files is an error, never a silent
//! fall-back. Files may be gzipped (`.gz`) or not.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{DataError, Result};
use crate::idx::{IdxArray, parse_idx, read_idx_file};

/// Side of a Fashion-MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in one image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;
/// Class names, indexed by label.
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
/// Mean pixel value of the training split, on the [0, 1] scale (computed over all 60,000 images).
pub const PIXEL_MEAN: f32 = 0.2860;
/// Standard deviation of the training split's pixels, on the [0, 1] scale.
pub const PIXEL_STD: f32 = 0.3530;
/// Debian's `dataset-fashion-mnist` installs the IDX files here.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// The environment variable naming a data directory.
pub const DATA_ENV_VAR: &str = "TEMPERING_DATA";

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// The shipped sample, in the same order as [`FILES`].
const SAMPLE: [&[u8]; 4] = [
    include_bytes!("../data/fashion-mnist-sample/train-images-idx3-ubyte.gz"),
    include_bytes!("../data/fashion-mnist-sample/train-labels-idx1-ubyte.gz"),
    include_bytes!("../data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz"),
    include_bytes!("../data/fashion-mnist-sample/t10k-labels-idx1-ubyte.gz"),
];

/// Where a loaded copy of Fashion-MNIST came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FashionMnistSource {
    /// A directory passed by the caller.
    Explicit(PathBuf),
    /// A directory named by the `TEMPERING_DATA` environment variable.
    EnvVar(PathBuf),
    /// Debian's `dataset-fashion-mnist` package.
    Debian(PathBuf),
    /// The sample shipped inside tempering-data.
    EmbeddedSample,
}

impl FashionMnistSource {
    /// True for the full data set, false for the shipped sample.
    pub fn is_full(&self) -> bool {
        !matches!(self, Self::EmbeddedSample)
    }
}

impl fmt::Display for FashionMnistSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit(p) => write!(f, "{} (given path)", p.display()),
            Self::EnvVar(p) => write!(f, "{} (from ${DATA_ENV_VAR})", p.display()),
            Self::Debian(p) => write!(f, "{} (Debian dataset-fashion-mnist)", p.display()),
            Self::EmbeddedSample => write!(
                f,
                "the sample shipped with tempering-data (4,000 train / 1,000 test images; \
                 `apt-get install dataset-fashion-mnist` for the full 60,000 / 10,000)"
            ),
        }
    }
}

/// Decides where Fashion-MNIST is read from, without reading it.
///
/// `env_value` is the value of `TEMPERING_DATA` (passed in so the decision is testable);
/// `debian_dir` is normally [`DEBIAN_DIR`].
pub fn locate(
    explicit: Option<&Path>,
    env_value: Option<&Path>,
    debian_dir: &Path,
) -> Result<FashionMnistSource> {
    if let Some(dir) = explicit {
        check_dir(dir, "given path")?;
        return Ok(FashionMnistSource::Explicit(dir.to_path_buf()));
    }
    if let Some(root) = env_value {
        let nested = root.join("fashion-mnist");
        let dir = if has_all_files(&nested) {
            nested
        } else {
            root.to_path_buf()
        };
        check_dir(&dir, DATA_ENV_VAR)?;
        return Ok(FashionMnistSource::EnvVar(dir));
    }
    if has_all_files(debian_dir) {
        return Ok(FashionMnistSource::Debian(debian_dir.to_path_buf()));
    }
    Ok(FashionMnistSource::EmbeddedSample)
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(format!("{name}.gz")), dir.join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

fn has_all_files(dir: &Path) -> bool {
    FILES.iter().all(|f| find_file(dir, f).is_some())
}

fn check_dir(dir: &Path, origin: &str) -> Result<()> {
    match FILES.iter().find(|f| find_file(dir, f).is_none()) {
        Some(file) => Err(DataError::MissingFile {
            dir: dir.to_path_buf(),
            origin: origin.to_string(),
            file,
        }),
        None => Ok(()),
    }
}

/// Both splits of Fashion-MNIST, loaded into memory (about 55 MB for the full set).
#[derive(Clone, Debug)]
pub struct FashionMnist {
    source: FashionMnistSource,
    train: FashionMnistDataset,
    test: FashionMnistDataset,
}

impl FashionMnist {
    /// Finds and loads Fashion-MNIST in the lookup order of the [module docs](self), and says on
    /// stderr which source was used.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let env = std::env::var_os(DATA_ENV_VAR).filter(|v| !v.is_empty());
        let source = locate(
            explicit,
            env.as_deref().map(Path::new),
            Path::new(DEBIAN_DIR),
        )?;
        let data = Self::load_from(source)?;
        eprintln!(
            "tempering-data: Fashion-MNIST from {} ({} train, {} test images)",
            data.source,
            data.train.len(),
            data.test.len()
        );
        Ok(data)
    }

    /// Loads from a source chosen by [`locate`] (or by hand), silently.
    pub fn load_from(source: FashionMnistSource) -> Result<Self> {
        let (train, test) = match &source {
            FashionMnistSource::Explicit(dir)
            | FashionMnistSource::EnvVar(dir)
            | FashionMnistSource::Debian(dir) => {
                let path = |name: &str| find_file(dir, name).unwrap_or_else(|| dir.join(name));
                let read = |name: &str, ndim, what| read_idx_file(&path(name), ndim, what);
                (
                    FashionMnistDataset::from_idx(
                        read(TRAIN_IMAGES, 3, "images")?,
                        &path(TRAIN_IMAGES),
                        read(TRAIN_LABELS, 1, "labels")?,
                        &path(TRAIN_LABELS),
                    )?,
                    FashionMnistDataset::from_idx(
                        read(TEST_IMAGES, 3, "images")?,
                        &path(TEST_IMAGES),
                        read(TEST_LABELS, 1, "labels")?,
                        &path(TEST_LABELS),
                    )?,
                )
            }
            FashionMnistSource::EmbeddedSample => {
                let name = |i: usize| PathBuf::from(format!("<embedded>/{}.gz", FILES[i]));
                let read = |i: usize, ndim, what| parse_idx(SAMPLE[i], &name(i), ndim, what);
                (
                    FashionMnistDataset::from_idx(
                        read(0, 3, "images")?,
                        &name(0),
                        read(1, 1, "labels")?,
                        &name(1),
                    )?,
                    FashionMnistDataset::from_idx(
                        read(2, 3, "images")?,
                        &name(2),
                        read(3, 1, "labels")?,
                        &name(3),
                    )?,
                )
            }
        };
        Ok(Self {
            source,
            train,
            test,
        })
    }

    /// Where the data came from.
    pub fn source(&self) -> &FashionMnistSource {
        &self.source
    }

    /// The training split (60,000 images in the full set).
    pub fn train(&self) -> FashionMnistDataset {
        self.train.clone()
    }

    /// The test split (10,000 images in the full set).
    pub fn test(&self) -> FashionMnistDataset {
        self.test.clone()
    }
}

/// One image and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FashionMnistItem {
    /// Row-major 28×28 grey levels, 0 = background.
    pub image: [u8; IMAGE_PIXELS],
    /// Class index into [`CLASS_NAMES`].
    pub label: u8,
}

/// One split of Fashion-MNIST (or a contiguous part of it); cheap to clone.
#[derive(Clone, Debug)]
pub struct FashionMnistDataset {
    images: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
    start: usize,
    len: usize,
}

impl FashionMnistDataset {
    /// Builds a split from parsed IDX arrays, checking shapes, counts and labels.
    pub fn from_idx(
        images: IdxArray,
        images_path: &Path,
        labels: IdxArray,
        labels_path: &Path,
    ) -> Result<Self> {
        if images.dims[1..] != [IMAGE_SIDE, IMAGE_SIDE] {
            return Err(DataError::BadHeader {
                path: images_path.to_path_buf(),
                problem: format!(
                    "images are {}x{}, expected {IMAGE_SIDE}x{IMAGE_SIDE}",
                    images.dims[1], images.dims[2]
                ),
            });
        }
        if images.dims[0] != labels.dims[0] {
            return Err(DataError::CountMismatch {
                images: images_path.to_path_buf(),
                image_count: images.dims[0],
                labels: labels_path.to_path_buf(),
                label_count: labels.dims[0],
            });
        }
        if let Some((index, &label)) = labels
            .data
            .iter()
            .enumerate()
            .find(|&(_, &l)| l as usize >= NUM_CLASSES)
        {
            return Err(DataError::BadLabel {
                path: labels_path.to_path_buf(),
                index,
                label,
                classes: NUM_CLASSES,
            });
        }
        Ok(Self {
            len: labels.dims[0],
            images: Arc::new(images.data),
            labels: Arc::new(labels.data),
            start: 0,
        })
    }

    /// The items `range` of this split, sharing its memory.
    ///
    /// # Panics
    /// If the range reaches past the end of the split.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "slice {range:?} out of a split of {} items",
            self.len
        );
        Self {
            images: self.images.clone(),
            labels: self.labels.clone(),
            start: self.start + range.start,
            len: range.end - range.start,
        }
    }

    /// Label of item `index` (cheaper than [`Dataset::get`]).
    pub fn label(&self, index: usize) -> u8 {
        self.labels[self.start + index]
    }
}

impl Dataset<FashionMnistItem> for FashionMnistDataset {
    fn get(&self, index: usize) -> std::result::Result<FashionMnistItem, DatasetError> {
        assert!(index < self.len, "index {index} >= len {}", self.len);
        let at = self.start + index;
        let mut image = [0u8; IMAGE_PIXELS];
        image.copy_from_slice(&self.images[at * IMAGE_PIXELS..(at + 1) * IMAGE_PIXELS]);
        Ok(FashionMnistItem {
            image,
            label: self.labels[at],
        })
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// A batch of images, normalized with [`PIXEL_MEAN`] and [`PIXEL_STD`], and their labels.
#[derive(Clone, Debug)]
pub struct FashionMnistBatch {
    /// `[batch, 28, 28]`, float.
    pub images: Tensor<3>,
    /// `[batch]` class indices.
    pub targets: Tensor<1, Int>,
}

/// Turns [`FashionMnistItem`]s into a [`FashionMnistBatch`] on a device.
#[derive(Clone, Debug, Default)]
pub struct FashionMnistBatcher;

impl Batcher<FashionMnistItem, FashionMnistBatch> for FashionMnistBatcher {
    fn batch(&self, items: Vec<FashionMnistItem>, device: &Device) -> FashionMnistBatch {
        let n = items.len();
        let mut pixels = Vec::with_capacity(n * IMAGE_PIXELS);
        let mut labels = Vec::with_capacity(n);
        for item in &items {
            pixels.extend(
                item.image
                    .iter()
                    .map(|&p| (p as f32 / 255.0 - PIXEL_MEAN) / PIXEL_STD),
            );
            labels.push(item.label as i64);
        }
        FashionMnistBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, IMAGE_SIDE, IMAGE_SIDE]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx;

    fn write_split(dir: &Path, images_name: &str, labels_name: &str, n: usize, labels: &[u8]) {
        let images = IdxArray {
            dims: vec![n, IMAGE_SIDE, IMAGE_SIDE],
            data: (0..n * IMAGE_PIXELS).map(|i| (i % 251) as u8).collect(),
        };
        std::fs::write(dir.join(images_name), encode_idx(&images)).unwrap();
        let labels = IdxArray {
            dims: vec![labels.len()],
            data: labels.to_vec(),
        };
        std::fs::write(dir.join(labels_name), encode_idx(&labels)).unwrap();
    }

    fn write_all(dir: &Path) {
        write_split(dir, TRAIN_IMAGES, TRAIN_LABELS, 3, &[0, 1, 9]);
        write_split(dir, TEST_IMAGES, TEST_LABELS, 2, &[4, 5]);
    }

    #[test]
    fn embedded_sample_loads_with_expected_sizes_and_balance() {
        let data = FashionMnist::load_from(FashionMnistSource::EmbeddedSample).unwrap();
        assert_eq!(data.train().len(), 4000);
        assert_eq!(data.test().len(), 1000);
        // Counts of class 1 (trouser) in the sample, recorded in data/README.md.
        let train = data.train();
        let trousers = (0..train.len()).filter(|&i| train.label(i) == 1).count();
        assert_eq!(trousers, 440);
        let item = train.get(0).unwrap();
        assert!(item.image.iter().any(|&p| p > 0));
    }

    #[test]
    fn lookup_order_explicit_env_debian_sample() {
        let full = tempfile::tempdir().unwrap();
        write_all(full.path());
        let empty = tempfile::tempdir().unwrap();
        let p = full.path();
        assert_eq!(
            locate(Some(p), Some(empty.path()), empty.path()).unwrap(),
            FashionMnistSource::Explicit(p.to_path_buf())
        );
        assert_eq!(
            locate(None, Some(p), empty.path()).unwrap(),
            FashionMnistSource::EnvVar(p.to_path_buf())
        );
        assert_eq!(
            locate(None, None, p).unwrap(),
            FashionMnistSource::Debian(p.to_path_buf())
        );
        assert_eq!(
            locate(None, None, empty.path()).unwrap(),
            FashionMnistSource::EmbeddedSample
        );
    }

    #[test]
    fn env_var_accepts_a_root_with_a_fashion_mnist_subdirectory() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("fashion-mnist");
        std::fs::create_dir(&nested).unwrap();
        write_all(&nested);
        assert_eq!(
            locate(None, Some(root.path()), Path::new("/nonexistent")).unwrap(),
            FashionMnistSource::EnvVar(nested)
        );
    }

    #[test]
    fn a_named_directory_without_the_files_is_an_error_not_a_fallback() {
        let empty = tempfile::tempdir().unwrap();
        let err = locate(Some(empty.path()), None, Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(err, DataError::MissingFile { .. }));
        assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
        let err = locate(None, Some(empty.path()), Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().contains(DATA_ENV_VAR), "{err}");
    }

    #[test]
    fn loads_plain_files_from_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path());
        let data =
            FashionMnist::load_from(FashionMnistSource::Explicit(dir.path().into())).unwrap();
        assert_eq!(data.train().len(), 3);
        assert_eq!(data.test().get(1).unwrap().label, 5);
        assert_eq!(data.train().get(0).unwrap().image[250], 250);
    }

    #[test]
    fn label_count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path());
        write_split(dir.path(), TEST_IMAGES, TEST_LABELS, 2, &[4, 5, 6]);
        let err =
            FashionMnist::load_from(FashionMnistSource::Explicit(dir.path().into())).unwrap_err();
        assert!(matches!(
            err,
            DataError::CountMismatch {
                image_count: 2,
                label_count: 3,
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains(TEST_IMAGES) && msg.contains(TEST_LABELS),
            "{msg}"
        );
    }

    #[test]
    fn out_of_range_label_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path());
        write_split(dir.path(), TRAIN_IMAGES, TRAIN_LABELS, 3, &[0, 10, 1]);
        let err =
            FashionMnist::load_from(FashionMnistSource::Explicit(dir.path().into())).unwrap_err();
        assert!(matches!(
            err,
            DataError::BadLabel {
                index: 1,
                label: 10,
                ..
            }
        ));
    }

    #[test]
    fn truncated_file_on_disk_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path());
        let path = dir.path().join(TRAIN_IMAGES);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let err =
            FashionMnist::load_from(FashionMnistSource::Explicit(dir.path().into())).unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }));
        assert!(err.to_string().contains(TRAIN_IMAGES));
    }

    #[test]
    fn wrong_image_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path());
        let images = IdxArray {
            dims: vec![3, 32, 32],
            data: vec![0; 3 * 32 * 32],
        };
        std::fs::write(dir.path().join(TRAIN_IMAGES), encode_idx(&images)).unwrap();
        let err =
            FashionMnist::load_from(FashionMnistSource::Explicit(dir.path().into())).unwrap_err();
        assert!(err.to_string().contains("32x32"), "{err}");
    }

    #[test]
    fn slice_shares_and_offsets() {
        let data = FashionMnist::load_from(FashionMnistSource::EmbeddedSample).unwrap();
        let train = data.train();
        let part = train.slice(10..20);
        assert_eq!(part.len(), 10);
        assert_eq!(part.get(3).unwrap(), train.get(13).unwrap());
    }

    #[test]
    fn batcher_normalizes_and_keeps_labels() {
        let device = Device::default();
        let items = vec![
            FashionMnistItem {
                image: [0; IMAGE_PIXELS],
                label: 3,
            },
            FashionMnistItem {
                image: [255; IMAGE_PIXELS],
                label: 7,
            },
        ];
        let batch = FashionMnistBatcher.batch(items, &device);
        assert_eq!(batch.images.dims(), [2, IMAGE_SIDE, IMAGE_SIDE]);
        let px: Vec<f32> = batch.images.into_data().try_to_vec::<f32>().unwrap();
        // Hand-computed: (0 - 0.2860) / 0.3530 and (1 - 0.2860) / 0.3530.
        assert!((px[0] - (-0.810_198_3)).abs() < 1e-5, "{}", px[0]);
        assert!((px[IMAGE_PIXELS] - 2.022_663).abs() < 1e-5);
        let labels: Vec<i64> = batch
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(labels, vec![3, 7]);
    }
}
