//! Throughput of `tempering prune` against copying the file: writes a synthetic burnpack
//! checkpoint of `--size-mib` (default 1 GiB) of f32 weights, then times `cp` of it and a
//! Global MP prune of it (read, rank, mask, write) in the same run, on the same file system,
//! and prints the times and their ratios, with a third baseline: a copy through user space in
//! 16 MiB chunks, and the share of the prune spent reading and ranking (a dry run). Neither
//! side syncs its output to disk (`cp` does not); before each measurement the outputs of the
//! others are removed and `sync` runs, so each starts from the same page cache. Every round
//! is printed, then the best of each and the median of the rounds' prune / `cp` ratios.
//!
//!
//! Memory, from one more prune in a fresh process: the heap it allocates at its peak (counted
//! by this binary's allocator) and the process's peak resident set (`VmHWM`), which also counts
//! the pages of the memory-mapped input it has read (page cache, not the heap).
//!
//! ```sh
//! cargo run --release -p tempering-examples --bin bench_prune -- --size-mib 1024
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use burn::store::burn_pack::{Bytes, DType, Tensor, Writer};
use clap::Parser;
use tempering_prune::{Method, Output, PruneConfig, prune_checkpoint};

/// The system allocator, counting the bytes in use and their peak.
struct CountingAllocator;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only observe.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The heap in use now, made the peak from which the next measurement counts.
fn reset_peak() -> usize {
    let now = IN_USE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// A `kB` field of `/proc/self/status` in MiB (Linux), if there is one.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Options of `bench_prune`.
#[derive(Parser, Debug)]
#[command(about = "Time pruning a large checkpoint against copying it")]
struct Args {
    /// Size of the synthetic checkpoint's weights in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: usize,
    /// Directory for the files [default: a temporary directory, removed afterwards].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Size of each weight matrix in MiB (`[rows, 2048]` f32, plus a bias each).
    #[arg(long, default_value_t = 16)]
    matrix_mib: usize,
    /// Sparsity of the Global MP pass.
    #[arg(long, default_value_t = 0.9)]
    sparsity: f64,
    /// Keep the synthetic checkpoint (in `--dir`) for profiling.
    #[arg(long)]
    keep_input: bool,
    /// Internal: prune INPUT into OUTPUT once in this process and print its peak heap and
    /// resident set (the parent runs this to measure memory in a fresh process).
    #[arg(long, hide = true, num_args = 2, value_names = ["INPUT", "OUTPUT"])]
    child_prune: Option<Vec<PathBuf>>,
    /// Rounds of the measurements (the minimum of each and the median ratio are reported).
    /// Page-cache writes on virtual machines stall at random (system time 4× its usual),
    /// hence five.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
}

/// A copy through user space, as any program that transforms the bytes must do (GNU `cp`
/// copies in the kernel with `copy_file_range`, which never brings the data to user space).
fn userspace_copy(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut input = std::fs::File::open(from)?;
    let mut output = std::fs::File::create(to)?;
    let mut buffer = vec![0u8; 16 << 20];
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        output.write_all(&buffer[..n])?;
    }
}

/// The child's side of the memory measurement: one prune, then `heap_mib rss_mib` on stdout.
fn child_prune(paths: &[PathBuf], sparsity: f64) -> Result<(), Box<dyn std::error::Error>> {
    let [input, output] = paths else {
        return Err("--child-prune takes INPUT and OUTPUT".into());
    };
    let baseline = reset_peak();
    let config = PruneConfig::new(Method::GlobalMagnitude, sparsity);
    let output = Output::File {
        path: output,
        overwrite: false,
    };
    prune_checkpoint(input, output, &config)?;
    let heap = (PEAK.load(Ordering::Relaxed) - baseline) as f64 / (1 << 20) as f64;
    let rss = status_mib("VmHWM:").unwrap_or(f64::NAN);
    println!("{heap} {rss}");
    Ok(())
}

/// Peak heap and resident set (MiB) of a prune of `input` in a fresh process.
fn memory_of_a_prune(
    input: &std::path::Path,
    output: &std::path::Path,
    sparsity: f64,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let _ = std::fs::remove_file(output);
    let out = Command::new(std::env::current_exe()?)
        .arg("--sparsity")
        .arg(sparsity.to_string())
        .arg("--child-prune")
        .arg(input)
        .arg(output)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "the measuring child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = String::from_utf8(out.stdout)?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(heap)), Some(Ok(rss))) => Ok((heap, rss)),
        _ => Err(format!("the measuring child printed '{text}'").into()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tempering_examples::common::release_build::require_release_build("bench_prune");
    if let Some(paths) = &args.child_prune {
        return child_prune(paths, args.sparsity);
    }
    if args.size_mib == 0 || args.repeats == 0 {
        return Err("--size-mib and --repeats must be at least 1".into());
    }
    if args.matrix_mib == 0 || args.matrix_mib > args.size_mib {
        return Err("--matrix-mib must be between 1 and --size-mib".into());
    }
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("bench-model.bpk");
    // Weight matrices of `--matrix-mib` ([rows, 2048]) plus a bias each, seeded values.
    let rows = args.matrix_mib * (1 << 20) / 4 / 2048;
    let matrices = args.size_mib.div_ceil(args.matrix_mib);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut tensors = Vec::new();
    for layer in 0..matrices {
        let values: Vec<u8> = (0..rows * 2048)
            .flat_map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5).to_le_bytes()
            })
            .collect();
        tensors.push(Tensor::new(
            format!("layers.{layer}.weight"),
            DType::F32,
            vec![rows, 2048],
            Some(layer as u64),
            Bytes::from_bytes_vec(values),
        ));
        tensors.push(Tensor::new(
            format!("layers.{layer}.bias"),
            DType::F32,
            vec![2048],
            None,
            Bytes::from_bytes_vec(vec![0; 2048 * 4]),
        ));
    }
    Writer::new(tensors).write_to_file(&input)?;
    let bytes = std::fs::metadata(&input)?.len();
    eprintln!(
        "wrote {} ({:.1} MiB)",
        input.display(),
        bytes as f64 / (1 << 20) as f64
    );

    let copy = dir.join("bench-copy.bpk");
    let pruned = dir.join("bench-pruned.bpk");
    let config = PruneConfig::new(Method::GlobalMagnitude, args.sparsity);
    // Each measurement starts from the same state: no output of an earlier one in the page
    // cache and no dirty pages waiting (`sync`), so none pays for another's write-back or
    // memory. On virtual machines that hand freed guest memory back to the host (free page
    // reporting), writing a file into pages the host reclaimed costs several times more
    // system time, and a copy left in the page cache makes that likelier for the next writer.
    let fresh = || -> std::io::Result<()> {
        for f in [&copy, &pruned] {
            let _ = std::fs::remove_file(f);
        }
        Command::new("sync").status()?;
        Ok(())
    };
    let mut rounds: Vec<[f64; 4]> = Vec::with_capacity(args.repeats);
    for _ in 0..args.repeats {
        fresh()?;
        let started = Instant::now();
        let status = Command::new("cp").arg(&input).arg(&copy).status()?;
        let cp = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!("cp failed: {status}").into());
        }
        fresh()?;
        let started = Instant::now();
        userspace_copy(&input, &copy)?;
        let user = started.elapsed().as_secs_f64();
        fresh()?;
        let started = Instant::now();
        prune_checkpoint(&input, Output::DryRun, &config)?;
        let dry = started.elapsed().as_secs_f64();
        fresh()?;
        let started = Instant::now();
        let output = Output::File {
            path: &pruned,
            overwrite: false,
        };
        let report = prune_checkpoint(&input, output, &config)?;
        let prune = started.elapsed().as_secs_f64();
        assert!((report.target_sparsity_after() - args.sparsity).abs() < 1e-6);
        eprintln!(
            "round {}: cp {cp:.3} s, chunked copy {user:.3} s, dry run {dry:.3} s, prune \
             {prune:.3} s (prune / cp {:.2})",
            rounds.len() + 1,
            prune / cp
        );
        rounds.push([cp, user, dry, prune]);
    }
    let best = |j: usize| rounds.iter().map(|r| r[j]).fold(f64::INFINITY, f64::min);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let (cp_best, user_best, dry_best, prune_best) = (best(0), best(1), best(2), best(3));
    let mib = bytes as f64 / (1 << 20) as f64;
    println!("| step | best of {} (s) | MiB/s |", args.repeats);
    println!("|---|---|---|");
    println!("| cp | {cp_best:.3} | {:.0} |", mib / cp_best);
    println!(
        "| read + write in 16 MiB chunks | {user_best:.3} | {:.0} |",
        mib / user_best
    );
    println!(
        "| … of which reading and ranking (--dry-run) | {dry_best:.3} | {:.0} |",
        mib / dry_best
    );
    println!(
        "| tempering prune (global-magnitude {}) | {prune_best:.3} | {:.0} |",
        args.sparsity,
        mib / prune_best
    );
    println!(
        "\nprune / cp = {:.2} (best of each), {:.2} (median of the rounds' ratios), prune / \
         chunked copy = {:.2} on a {mib:.0} MiB checkpoint ({} cores)",
        prune_best / cp_best,
        median(rounds.iter().map(|r| r[3] / r[0]).collect()),
        prune_best / user_best,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let (heap, rss) = memory_of_a_prune(&input, &pruned, args.sparsity)?;
    let largest = args.matrix_mib;
    println!(
        "peak heap of the prune: {heap:.1} MiB (largest tensor: {largest} MiB); peak resident set of \
         the pruning process: {rss:.0} MiB, with the pages of the mapped input it read"
    );
    for f in [&copy, &pruned] {
        let _ = std::fs::remove_file(f);
    }
    if !args.keep_input {
        let _ = std::fs::remove_file(&input);
    }
    Ok(())
}
