//! What the benches measure and how they print it: this process's CPU time (getrusage),
//! another process's CPU time (`/proc/<pid>/stat`), this process's memory
//! (`/proc/self/status`), medians, and markdown tables.

use std::time::Duration;

/// User + system CPU time of this whole process so far (`getrusage(RUSAGE_SELF)`, µs resolution).
pub fn self_cpu() -> Duration {
    self_usage().cpu
}

/// What this whole process has used so far (`getrusage(RUSAGE_SELF)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU time (µs resolution).
    pub cpu: Duration,
    /// Context switches of all its threads, voluntary (a thread went to sleep: a blocking
    /// read, a futex, `epoll_wait`) and involuntary (preempted). Each voluntary one is a
    /// wake-up later: on a VM the costliest thing a message hand-off does.
    pub switches: u64,
}

/// This process's [`Usage`] so far; zero if `getrusage` fails.
pub fn self_usage() -> Usage {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Usage::default();
        }
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Usage { cpu: tv(usage.ru_utime) + tv(usage.ru_stime), switches: (usage.ru_nvcsw + usage.ru_nivcsw).max(0) as u64 }
}

/// User + system CPU time of process `pid` so far, from `/proc/<pid>/stat` (clock ticks,
/// usually 10 ms: sum many intervals before dividing).
pub fn process_cpu(pid: u32) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_cpu_ticks(&stat)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected /proc/<pid>/stat"))?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / per_second))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may contain spaces, so fields are counted after the last `)`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14 → index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size now and at its peak, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `VmHWM` (the peak RSS).
    pub hwm_kib: u64,
}

/// `VmRSS` and `VmHWM` of this process, from `/proc/self/status`.
pub fn memory() -> std::io::Result<Memory> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory { rss_kib: field("VmRSS:"), hwm_kib: field("VmHWM:") })
}

/// The median of `values` (the mean of the two middle ones for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

/// The `p`-quantile of `values` (0 ≤ p ≤ 1, linear interpolation); 0 when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n => {
            let rank = p.clamp(0.0, 1.0) * (n - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

/// A markdown table, printed with aligned columns.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    /// Appends a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as markdown.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| format!("{:<w$}", cells.get(i).map_or("", String::as_str)))
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let mut out = line(&self.header);
        out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// `1234567.8` → `"1,234,568"`.
pub fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "42 (co dex) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 9 0 1 2 3";
        assert_eq!(parse_stat_cpu_ticks(line), Some(281));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9), 4.6);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn this_process_is_measurable() {
        // Burn 30 ms of CPU (not of wall time: the machine may be busy).
        let before = self_cpu();
        let spin = std::time::Instant::now();
        while self_cpu() - before < Duration::from_millis(30) {
            assert!(spin.elapsed() < Duration::from_secs(30), "getrusage does not advance");
        }
        let own = process_cpu(std::process::id()).expect("own /proc/<pid>/stat");
        assert!(own > Duration::ZERO, "{own:?}");
        let mem = memory().expect("/proc/self/status");
        assert!(mem.rss_kib > 0 && mem.hwm_kib >= mem.rss_kib, "{mem:?}");
    }

    #[test]
    fn tables_and_numbers() {
        let mut t = Table::new(&["a", "long title"]);
        t.row(vec!["xyz".into(), "1".into()]);
        assert_eq!(t.render(), "| a   | long title |\n|-----|------------|\n| xyz | 1          |\n");
        assert_eq!(grouped(1234567.8), "1,234,568");
        assert_eq!(grouped(12.0), "12");
    }
}
