//! M-FAC against a float64 transcription of the official code (`tests/reference/mfac.py`,
//! which follows IST-DASLab/M-FAC @8116367 `optim.py`; `docs/references.md` lists the
//! source), dense and blocked; exact resume from saved state; the NaN rule; config errors.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use tempering_optim::{ClosureOptimizer, Mfac, MfacConfig, StateRecord};

/// A module that is just a point in R⁵.
#[derive(Module, Debug)]
struct Point {
    x: Param<Tensor<1>>,
}

const X0: [f32; 5] = [1.0, -1.0, 0.5, 2.0, -0.5];

fn point(x: [f32; 5], device: &Device) -> Point {
    Point {
        x: Param::from_tensor(Tensor::from_floats(x, device)),
    }
}

fn coords(p: &Point) -> Vec<f32> {
    p.x.val().into_data().try_to_vec().unwrap()
}

/// `f_t(x) = ½ Σ aᵢ (xᵢ − c_(t mod 3),ᵢ)²`, the function of `mfac.py`.
fn loss_at(step: usize) -> impl FnMut(Point) -> (f64, GradientsParams) {
    const TARGETS: [[f32; 5]; 3] = [
        [0.5, -0.3, 0.2, 1.0, 0.0],
        [-0.2, 0.4, 0.1, 0.8, 0.3],
        [0.1, 0.0, -0.4, 1.2, -0.2],
    ];
    move |p: Point| {
        let device = p.x.val().device();
        let a = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0, 5.0], &device);
        let c = Tensor::<1>::from_floats(TARGETS[step % 3], &device);
        let loss = ((p.x.val() - c).square() * a).sum().mul_scalar(0.5);
        let grads = GradientsParams::from_grads(loss.backward(), &p);
        (loss.into_scalar::<f64>(), grads)
    }
}

/// The settings of `mfac.py`: m = 3, damp 0.1, momentum 0.5, weight decay 0.01 (lr 0.1).
fn config() -> MfacConfig {
    MfacConfig::new()
        .with_gradients(3)
        .with_damp(0.1)
        .with_momentum(0.5)
        .with_weight_decay(0.01)
}

fn follow(mut mfac: Mfac, reference: &[[f64; 5]], name: &str) {
    let device = Device::default().autodiff();
    let mut p = point(X0, &device);
    for (t, want) in reference.iter().enumerate() {
        (p, _) = mfac.step(0.1, p, loss_at(t));
        let got = coords(&p);
        for (g, w) in got.iter().zip(want) {
            // f32 against float64; the largest factor in play is λ = 1/damp = 10.
            assert!(
                (*g as f64 - w).abs() < 2e-6,
                "{name} step {}: got {got:?}, reference {want:?}",
                t + 1
            );
        }
    }
}

/// Reference: dense M-FAC, seven steps (the window of 3 wraps twice), printed by `mfac.py`.
#[test]
fn dense_mfac_follows_the_official_code() {
    let reference = [
        [
            0.9970351882,
            -0.9918031675,
            0.4947389125,
            1.9766303074,
            -0.4854375423,
        ],
        [
            0.9663347190,
            -0.9371441931,
            0.4932308044,
            2.0008437512,
            -0.4456511930,
        ],
        [
            0.9427157923,
            -0.8975154996,
            0.4394933038,
            2.0117701422,
            -0.4538888358,
        ],
        [
            0.9605575726,
            -0.9328567420,
            0.4332877614,
            1.9507921680,
            -0.4796107563,
        ],
        [
            0.9489214305,
            -0.9111598616,
            0.4452765914,
            1.9522890953,
            -0.4487370415,
        ],
        [
            0.9347458057,
            -0.8866113637,
            0.3959957757,
            1.9527693276,
            -0.4589701519,
        ],
        [
            0.9611009384,
            -0.9339336744,
            0.3892706423,
            1.8821711745,
            -0.4877854748,
        ],
    ];
    follow(config().build(), &reference, "dense M-FAC");
}

/// Reference: blocks of 2 coordinates (the last block holds one), printed by `mfac.py`.
#[test]
fn blocked_mfac_follows_one_window_per_block() {
    let reference = [
        [
            0.9699788086,
            -0.9170002355,
            0.4921438358,
            1.9651030055,
            -0.4428519283,
        ],
        [
            0.9195025613,
            -0.8474246112,
            0.4590410525,
            1.9363268412,
            -0.3869395109,
        ],
        [
            0.8565791606,
            -0.8078979895,
            0.3705822531,
            1.9381593102,
            -0.3523688856,
        ],
        [
            0.8580743458,
            -0.7600832649,
            0.3577451646,
            1.9160621340,
            -0.3204744957,
        ],
        [
            0.8431631410,
            -0.7069739601,
            0.3734388920,
            1.8828625010,
            -0.2711149377,
        ],
        [
            0.7899254113,
            -0.6766103224,
            0.3097922192,
            1.8765115117,
            -0.2423604884,
        ],
        [
            0.7822428615,
            -0.6391172825,
            0.3058812805,
            1.8526113343,
            -0.2122104393,
        ],
    ];
    follow(
        config().with_block_size(Some(2)).build(),
        &reference,
        "blocked M-FAC",
    );
}

/// Four steps, save (through burnpack bytes), load into a new optimizer, three more: the same
/// iterates, bit for bit, as seven steps without the interruption.
#[test]
fn resumes_exactly_from_saved_state() {
    let device = Device::default().autodiff();
    for block in [None, Some(2)] {
        let mut straight = config().with_block_size(block).build();
        let mut p = point(X0, &device);
        let mut q = point(X0, &device);
        let mut first = config().with_block_size(block).build();
        for t in 0..4 {
            (p, _) = straight.step(0.1, p, loss_at(t));
            (q, _) = first.step(0.1, q, loss_at(t));
        }
        let bytes = first.to_record().into_bytes().unwrap();
        let mut resumed = config().with_block_size(block).build();
        resumed.load_record(StateRecord::from_bytes(bytes).unwrap());
        for t in 4..7 {
            (p, _) = straight.step(0.1, p, loss_at(t));
            (q, _) = resumed.step(0.1, q, loss_at(t));
        }
        assert_eq!(coords(&p), coords(&q), "block size {block:?}");
    }
}

/// A gradient with NaN skips the step: parameters, window and momentum stay as they were, so
/// the following steps are those of a run that never saw it.
#[test]
fn non_finite_gradient_skips_the_step() {
    let device = Device::default().autodiff();
    let mut clean = config().build();
    let mut hit = config().build();
    let mut p = point(X0, &device);
    let mut q = point(X0, &device);
    (p, _) = clean.step(0.1, p, loss_at(0));
    (q, _) = hit.step(0.1, q, loss_at(0));
    let before = coords(&q);
    let nan = |m: Point| {
        let loss = m.x.val().sum().mul_scalar(f32::NAN);
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        (f64::NAN, grads)
    };
    (q, _) = hit.step(0.1, q, nan);
    assert_eq!(coords(&q), before);
    assert_eq!(hit.skip_counter().skipped(), 1);
    for t in 1..5 {
        (p, _) = clean.step(0.1, p, loss_at(t));
        (q, _) = hit.step(0.1, q, loss_at(t));
    }
    assert_eq!(coords(&p), coords(&q));
}

#[test]
fn invalid_settings_are_named() {
    let err = |c: MfacConfig| c.try_build().err().unwrap().to_string();
    assert!(err(MfacConfig::new().with_gradients(0)).contains("gradients"));
    assert!(err(MfacConfig::new().with_damp(0.0)).contains("damp"));
    assert!(err(MfacConfig::new().with_momentum(1.0)).contains("momentum"));
    assert!(err(MfacConfig::new().with_weight_decay(-1.0)).contains("weight_decay"));
    assert!(err(MfacConfig::new().with_block_size(Some(0))).contains("block_size"));
}

/// A record that is not an M-FAC state of this configuration is refused with the problem, and
/// the optimizer keeps its state.
#[test]
fn bad_records_are_named() {
    let device = Device::default().autodiff();
    let mut source = config().build();
    let mut p = point(X0, &device);
    for t in 0..2 {
        (p, _) = source.step(0.1, p, loss_at(t));
    }
    let good = source.to_record();
    let load = |c: MfacConfig, r: StateRecord| c.build().try_load_record(r);
    assert!(load(config(), good.clone()).is_ok());
    // Another window.
    let err = load(config().with_gradients(4), good.clone()).unwrap_err();
    assert!(err.contains("window holds 3 gradients"), "{err}");
    // Momentum state without momentum.
    let err = load(config().with_momentum(0.0), good.clone()).unwrap_err();
    assert!(err.contains("momentum"), "{err}");
    // Another optimizer's record.
    let sgd = burn::optim::SgdConfig::new()
        .with_momentum(Some(burn::optim::momentum::MomentumConfig::new()))
        .build();
    let mut other = tempering_optim::SamConfig::new().build(sgd);
    let mut q = point(X0, &device);
    (q, _) = other.step(0.1, q, loss_at(0));
    let _ = q;
    let err = load(config(), other.to_record()).unwrap_err();
    assert!(err.contains("no tensor `mfac.gradients`"), "{err}");
    // A poisoned Gram matrix, through burnpack bytes.
    let bytes = good.into_bytes().unwrap();
    let mut record = StateRecord::from_bytes(bytes).unwrap();
    record = poison(record, "mfac.gram");
    let err = load(config(), record).unwrap_err();
    assert!(err.contains("`mfac.gram` holds NaN"), "{err}");
}

/// `record` with the first value of its tensor `name` set to NaN (through a fresh record).
fn poison(record: StateRecord, name: &str) -> StateRecord {
    use burn::tensor::{DType, TensorData};
    let bytes = record.into_bytes().unwrap();
    let reader = burn_pack::Reader::from_bytes(bytes).unwrap();
    let scalars = reader.scalars().clone();
    let mut writer_tensors = Vec::new();
    for t in reader.into_tensors().unwrap() {
        let (tname, dtype, shape, _, bytes) = t.into_parts().unwrap();
        let mut data = TensorData::from_bytes(bytes, shape.clone(), dtype);
        if tname == name {
            assert_eq!(dtype, DType::F64);
            let mut values = data.try_to_vec::<f64>().unwrap();
            values[0] = f64::NAN;
            data = TensorData::new(values, shape.clone());
        }
        writer_tensors.push(burn_pack::Tensor::new(
            tname,
            dtype,
            shape,
            None,
            data.into_bytes(),
        ));
    }
    let mut writer = burn_pack::Writer::new(writer_tensors);
    for (k, v) in scalars {
        writer = writer.with_scalar(&k, v);
    }
    StateRecord::from_bytes(writer.into_bytes().unwrap()).unwrap()
}
