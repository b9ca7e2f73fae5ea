//! Peak resident memory of this process, from `/proc/self/status` (Linux): `VmHWM` is the
//! high-water mark of the resident set, `VmRSS` the resident set now.

use std::io;

/// A field of `/proc/self/status` in KiB (`VmHWM`, `VmRSS`).
pub fn status_kib(field: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/self/status")?;
    parse_status_kib(&text, field).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("/proc/self/status has no `{field}` line in kB"),
        )
    })
}

fn parse_status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
}

/// Resets the high-water mark to the current resident set (Linux ≥ 4.0: writing 5 to
/// `/proc/self/clear_refs`); returns whether the kernel took it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_in_kib() {
        let text = "Name:\tx\nVmHWM:\t  215040 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kib(text, "VmHWM"), Some(215_040));
        assert_eq!(parse_status_kib(text, "VmRSS"), Some(1024));
        assert_eq!(parse_status_kib(text, "VmSwap"), None);
        // This process has both, and in one snapshot the peak is never below the current set.
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        let hwm = parse_status_kib(&text, "VmHWM").unwrap();
        let rss = parse_status_kib(&text, "VmRSS").unwrap();
        assert_eq!(
            status_kib("VmSwap_none").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(hwm >= rss && rss > 0, "VmHWM {hwm} VmRSS {rss}");
    }
}
