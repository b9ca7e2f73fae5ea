//! Plain-text tables for the terminal.

use tempering_prune::low_rank::LayerAllocation;

/// Left-aligns the first column and right-aligns the others, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// `12.34 %`.
pub fn percent(fraction: f64) -> String {
    format!("{:.2} %", 100.0 * fraction)
}

/// A byte count with a binary unit.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `[784, 256]`.
pub fn shape(dims: &[usize]) -> String {
    format!("{dims:?}")
}

/// Prints a report as pretty JSON on stdout.
pub fn print_json(report: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// Each layer's shape, rank × chunks (or dense), parameters before and after, and error.
pub fn low_rank_table(layers: &[LayerAllocation]) -> String {
    let rows: Vec<Vec<String>> = layers
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                shape(&l.shape),
                l.rank
                    .map_or_else(|| "dense".into(), |r| format!("{r} × {}", l.chunks)),
                l.parameters_before.to_string(),
                l.parameters_after.to_string(),
                format!("{:.4}", l.relative_error),
            ]
        })
        .collect();
    table(
        &[
            "tensor",
            "shape",
            "rank × chunks",
            "params",
            "after",
            "rel. error",
        ],
        &rows,
    )
}

/// The summary line of a factorized model's low-rank run: `low-rank (ALDS[, chunks searched
/// per layer]) at budget B: {layers} T → K parameters (P kept), largest relative spectral error
/// E`, where `layers` names the factorized layers (`the 24 block linear layers`).
#[cfg(feature = "language-models")]
pub fn low_rank_summary(
    layers: &[LayerAllocation],
    search: bool,
    budget: f64,
    what: &str,
) -> String {
    let totals = tempering_prune::low_rank::AllocationTotals::of(layers);
    let (targeted, kept) = (totals.parameters_before, totals.parameters_after);
    format!(
        "low-rank (ALDS{}) at budget {}: {what} {targeted} → {kept} parameters ({} kept), \
         largest relative spectral error {:.4}",
        if search {
            ", chunks searched per layer"
        } else {
            ""
        },
        percent(budget),
        percent(kept as f64 / targeted.max(1) as f64),
        totals.max_error
    )
}
