use super::*;

/// `smallest` over keys held in memory.
fn select(tensors: &[Vec<u32>], k: u64) -> Selection {
    let sizes: Vec<u64> = tensors.iter().map(|t| t.len() as u64).collect();
    smallest::<()>(
        &sizes,
        k,
        |i, j| tensors[i][j as usize],
        |i, _, f| {
            f(&tensors[i]);
            Ok(())
        },
    )
    .unwrap()
}

fn run(tensors: &[Vec<u32>], k: u64) -> Vec<Vec<usize>> {
    let cuts = select(tensors, k).cuts;
    tensors
        .iter()
        .zip(cuts)
        .map(|(t, cut)| {
            let mut out = Vec::new();
            apply(cut, t, |i| out.push(i));
            out
        })
        .collect()
}

/// The three-pass route (a bin too full to hold) cuts exactly where the two-pass one does,
/// and both count the zero keys.
#[test]
fn both_routes_agree() {
    let t = [vec![7, 0, 7, 65_536 + 3, 2], vec![7, 2, 0, 0, 7]];
    for k in 0..=10u64 {
        let route = |limit| {
            exact::smallest_with_limit::<()>(2, k, limit, |i, _, f| {
                f(&t[i]);
                Ok(())
            })
            .unwrap()
        };
        let (two, three) = (route(exact::BIN_LIMIT), route(0));
        assert_eq!(two.cuts, three.cuts, "k = {k}");
        assert_eq!(two.zero_keys, vec![1, 2]);
        assert_eq!(two.cuts.iter().map(|c| c.pruned).sum::<u64>(), k);
    }
}

/// Worked by hand: keys {5, 1, 9} and {3, 1, 70000}; the 3 smallest are 1, 1, 3.
#[test]
fn picks_the_k_smallest_across_tensors() {
    let t = vec![vec![5, 1, 9], vec![3, 1, 70_000]];
    assert_eq!(run(&t, 3), vec![vec![1], vec![0, 1]]);
    assert_eq!(run(&t, 0), vec![Vec::<usize>::new(), vec![]]);
    assert_eq!(run(&t, 6), vec![vec![0, 1, 2], vec![0, 1, 2]]);
}

/// Ties at the threshold go in tensor order, then index order: the 2 is pruned, and the
/// two more come from the four 7s, both from the first tensor.
#[test]
fn ties_are_taken_in_order() {
    let t = vec![vec![7, 7], vec![7, 2, 7]];
    assert_eq!(run(&t, 3), vec![vec![0, 1], vec![1]]);
    assert_eq!(run(&t, 4), vec![vec![0, 1], vec![0, 1]]);
}

/// Against sorting, on keys that share high bits (so the second level decides).
#[test]
fn agrees_with_sorting() {
    let mut state = 1u64;
    let keys: Vec<u32> = (0..5000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            0x3F80_0000 | ((state >> 40) as u32 & 0x3FF)
        })
        .collect();
    for k in [1u64, 17, 2500, 4999, 5000] {
        let picked = &run(std::slice::from_ref(&keys), k)[0];
        assert_eq!(picked.len() as u64, k);
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        let kth = sorted[k as usize - 1];
        assert!(picked.iter().all(|&i| keys[i] <= kth));
        let below = keys.iter().filter(|&&x| x < kth).count();
        assert!(picked.len() >= below);
    }
}
/// The fused f32 surgery, the generic one and `apply` zero the same elements, with ties,
/// zeros and negative zeros among the values (a −0.0 keeps its sign bit).
#[test]
fn the_surgeries_agree() {
    let values: Vec<f32> = (0..600)
        .map(|i| match i % 7 {
            0 => 0.0,
            1 => -0.0,
            2 => 0.5,
            3 => -0.5,
            _ => ((i * 37 % 101) as f32 - 50.0) / 10.0,
        })
        .collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let keys: Vec<u32> = values.iter().map(|v| v.to_bits() & 0x7FFF_FFFF).collect();
    for k in [0u64, 50, 86, 200, 250, 599, 600] {
        let cut = select(std::slice::from_ref(&keys), k).cuts[0];
        assert_eq!(cut.pruned, k);
        assert_eq!(
            count_f32_magnitude_equal(&bytes, cut.threshold),
            keys.iter().filter(|&&key| key == cut.threshold).count() as u64
        );
        // The element just past the ties taken at the threshold, in index order.
        let mut ties = cut.ties;
        let tie_end = keys
            .iter()
            .position(|&key| {
                ties -= u64::from(ties > 0 && key == cut.threshold);
                cut.ties > 0 && ties == 0 && key == cut.threshold
            })
            .map_or(0, |i| i as u64 + 1);
        // Windows of uneven lengths (in elements), as if streamed.
        let (mut fused, mut generic) = (vec![0xAB; bytes.len()], bytes.clone());
        let mut start = 0;
        for len in [1usize, 7, 64, 3, 300].iter().cycle() {
            if start == keys.len() {
                break;
            }
            let end = (start + len).min(keys.len());
            let (window, first) = (&bytes[4 * start..4 * end], start as u64);
            copy_cut_f32_magnitude_window(
                cut,
                tie_end,
                first,
                window,
                &mut fused[4 * start..4 * end],
            );
            let keys = &keys[start..end];
            zero_cut_window::<4>(cut, tie_end, first, keys, &mut generic[4 * start..4 * end]);
            start = end;
        }
        let mut reference = bytes.clone();
        apply(cut, &keys, |i| {
            if keys[i] != 0 {
                reference[4 * i..4 * i + 4].fill(0);
            }
        });
        assert_eq!(fused, reference, "k = {k}");
        assert_eq!(generic, reference, "k = {k}");
        // −0.0 elements are untouched.
        for (i, v) in values.iter().enumerate() {
            if v.to_bits() == 0x8000_0000 {
                assert_eq!(&fused[4 * i..4 * i + 4], &v.to_le_bytes());
            }
        }
    }
}

/// Tensors of the given sizes whose keys are `key(r)` of successive 64-bit LCG outputs r
/// (Knuth's MMIX constants), from `seed`.
fn seeded_tensors(seed: u64, sizes: &[usize], key: impl Fn(u64) -> u32) -> Vec<Vec<u32>> {
    let mut state = seed;
    sizes
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    key(state)
                })
                .collect()
        })
        .collect()
}

/// Keys with zeros, long runs of ties and a spread of values, over three tensors (seeded).
fn lumpy_keys() -> Vec<Vec<u32>> {
    seeded_tensors(7, &[1500, 10, 2500], |r| match (r >> 60) % 4 {
        0 => 0,
        1 => 40,
        _ => (r >> 33) as u32 % 5000,
    })
}

fn exact_route(tensors: &[Vec<u32>], k: u64) -> Selection {
    exact::smallest_exact::<()>(tensors.len(), k, |i, _, f| {
        f(&tensors[i]);
        Ok(())
    })
    .unwrap()
}

/// Every bracket either answers exactly what the histogram route answers, or declines, and it
/// declines only when the k-th key lies outside it (or too many keys lie inside).
#[test]
fn a_bracket_answers_exactly_or_declines() {
    let tensors = lumpy_keys();
    let mut all: Vec<u32> = tensors.concat();
    all.sort_unstable();
    let edges = [0u32, 1, 39, 40, 41, 1000, 2500, 4999, 5000, u32::MAX];
    for k in [0u64, 1, 900, 1000, 1001, 2000, 3000, 4009, 4010] {
        let expected = exact_route(&tensors, k);
        for &lo in &edges {
            for &hi in edges.iter().filter(|&&hi| hi >= lo) {
                let bracket = bracket::Bracket { lo, hi };
                let got = bracket::select_within::<()>(3, k, bracket, u64::MAX, &|i, _, f| {
                    f(&tensors[i]);
                    Ok(())
                })
                .unwrap();
                let holds = k == 0 || (lo..=hi).contains(&all[k as usize - 1]);
                match got {
                    Some(s) => {
                        assert!(holds, "k = {k}, [{lo}, {hi}] answered without the k-th key");
                        assert_eq!(s.cuts, expected.cuts, "k = {k}, [{lo}, {hi}]");
                        assert_eq!(s.zero_keys, expected.zero_keys);
                    }
                    None => assert!(!holds, "k = {k}, [{lo}, {hi}] declined"),
                }
            }
        }
    }
}

/// Too many keys strictly inside the bracket: it declines, and `smallest` still answers.
#[test]
fn a_crowded_bracket_declines() {
    let tensors = lumpy_keys();
    let bracket = bracket::Bracket {
        lo: 0,
        hi: u32::MAX,
    };
    let got = bracket::select_within::<()>(3, 2000, bracket, 10, &|i, _, f| {
        f(&tensors[i]);
        Ok(())
    })
    .unwrap();
    assert!(got.is_none());
    assert_eq!(
        select(&tensors, 2000).cuts,
        exact_route(&tensors, 2000).cuts
    );
}

/// A sample of 512 of 100,000 keys brackets the k-th smallest, from 1 to all of them, with a
/// bracket far narrower than the whole range (about 2·5·√(p(1−p)/512) of the keys).
#[test]
fn the_sample_brackets_the_kth_key() {
    let tensors = seeded_tensors(11, &[60_000, 1, 39_999], |r| (r >> 40) as u32);
    let sizes: Vec<u64> = tensors.iter().map(|t| t.len() as u64).collect();
    let mut all = tensors.concat();
    all.sort_unstable();
    for k in [1u64, 100, 50_000, 90_000, 99_999, 100_000] {
        let b = bracket::from_sample(&sizes, k, 512, &|i, j| tensors[i][j as usize]);
        let kth = all[k as usize - 1];
        assert!(b.lo <= kth && kth <= b.hi, "k = {k}: {kth} outside {b:?}");
        let inside = all.iter().filter(|&&x| x > b.lo && x < b.hi).count();
        assert!(inside < 30_000, "k = {k}: {inside} keys inside {b:?}");
        assert_eq!(select(&tensors, k).cuts, exact_route(&tensors, k).cuts);
    }
}
