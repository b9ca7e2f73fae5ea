//! ECoFLaP's block allocation (`ecoflap_sparsities_official`) against a transcription of the
//! official `compute_the_sparsity_per_group` with its float32 arithmetic emulated
//! (ylsung/ECoFLaP @59dac0a, `CoOp/trainers/pruners/layer_single_base_pruner.py`): the script
//! `tests/reference/ecoflap.py` printed the sparsities below (regenerate with
//! `cd crates/tempering-prune/tests/reference && python3 ecoflap.py`). They are float32 values,
//! compared exactly. Cases: the char LM's four blocks (196,608 linear weights each) at 50, 70 and
//! 80 %; the ceilings overshooting the budget (the fix-up adds the excess again); a group
//! reaching its size; uneven sizes and scores.

use tempering_prune::data_aware::LayerImportance;
use tempering_prune::ecoflap_allocation::ecoflap_sparsities_official;

fn allocate(sizes: &[usize], scores: &[f64], target: f64) -> Vec<f64> {
    let groups: Vec<LayerImportance> = sizes
        .iter()
        .zip(scores)
        .enumerate()
        .map(|(i, (&parameters, &importance))| LayerImportance {
            name: format!("g{i}"),
            importance,
            parameters,
        })
        .collect();
    // The default cap is target + 0.1, as the official LLaMA scripts pass it.
    let sparsities = ecoflap_sparsities_official(&groups, target, None).unwrap();
    (0..sizes.len())
        .map(|i| sparsities[&format!("g{i}")])
        .collect()
}

const CHAR_LM: [usize; 4] = [196_608; 4];
const CHAR_LM_SCORES: [f64; 4] = [3.7, 1.2, 0.9, 2.4];

#[test]
fn the_char_lm_blocks_match_the_official_allocation() {
    assert_eq!(
        allocate(&CHAR_LM, &CHAR_LM_SCORES, 0.5),
        [
            0.4195048213005066,
            0.5414581298828125,
            0.55609130859375,
            0.4829254150390625
        ]
    );
    assert_eq!(
        allocate(&CHAR_LM, &CHAR_LM_SCORES, 0.7),
        [
            0.6195017099380493,
            0.7414602041244507,
            0.7560933232307434,
            0.6829274892807007
        ]
    );
    assert_eq!(
        allocate(&CHAR_LM, &CHAR_LM_SCORES, 0.8),
        [
            0.7195028066635132,
            0.841461181640625,
            0.8560943603515625,
            0.7829234004020691
        ]
    );
}

#[test]
fn overshoot_saturation_and_uneven_groups_match() {
    assert_eq!(
        allocate(&[101, 100, 100], &[1.0, 1.0, 1.0], 0.5),
        [0.48514848947525024, 0.5, 0.5]
    );
    assert_eq!(
        allocate(&[1000, 50, 2000], &[0.1, 50.0, 1.0], 0.3),
        [0.37300002574920654, 0.0, 0.26999998092651367]
    );
    assert_eq!(
        allocate(
            &[12345, 6789, 23456, 3456],
            &[0.123, 4.56, 0.0789, 1.0],
            0.6
        ),
        [
            0.6919400691986084,
            0.16335248947143555,
            0.6971777081489563,
            0.46875
        ]
    );
}
