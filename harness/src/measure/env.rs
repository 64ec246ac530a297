//! Where and with what a run measured: the machine and OS (read at run
//! time from `/proc` and `/etc`), the toolchain and source commit (fixed at
//! build time by harness/build.rs), and the run's UTC timestamp.
//!
//! Anything that cannot be learned is reported as `unknown` (or `None` for
//! the git fields), never a panic: a missing `/proc` or a tarball build
//! must still produce a results document.

use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::measure::timer::Timer;
use crate::results::{EnvInfo, ToolInfo};

/// What a field says when the fact is not available.
pub const UNKNOWN: &str = "unknown";

impl EnvInfo {
    /// Describe this machine, this build, and `timer`'s calibration.
    pub fn capture(timer: &Timer) -> EnvInfo {
        EnvInfo {
            cpu_model: read("/proc/cpuinfo")
                .and_then(|text| cpu_model(&text))
                .unwrap_or_else(|| UNKNOWN.to_string()),
            nr_cpus: std::thread::available_parallelism()
                .map_or(0, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            os: read("/etc/os-release")
                .and_then(|text| os_pretty_name(&text))
                .unwrap_or_else(|| std::env::consts::OS.to_string()),
            kernel: read("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| UNKNOWN.to_string()),
            rustc: option_env!("PFNTRACK_RUSTC_VERSION")
                .unwrap_or(UNKNOWN)
                .to_string(),
            profile: option_env!("PFNTRACK_BUILD_PROFILE")
                .unwrap_or(UNKNOWN)
                .to_string(),
            timer: timer.info(),
        }
    }
}

impl ToolInfo {
    /// This pfntrack: its version, and the commit it was built from when
    /// the build could ask git.
    pub fn current() -> ToolInfo {
        ToolInfo {
            name: "pfntrack".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("PFNTRACK_GIT_COMMIT").map(str::to_string),
            git_dirty: option_env!("PFNTRACK_GIT_DIRTY").and_then(|s| s.parse().ok()),
        }
    }
}

/// Now, UTC, as RFC 3339 with whole seconds (`2026-11-25T14:03:09Z`).
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// `t` as RFC 3339 UTC with whole seconds.
fn rfc3339(t: OffsetDateTime) -> String {
    // Whole seconds keep documents diffable; the run's duration is
    // recorded separately. A zero nanosecond cannot be out of range.
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| UNKNOWN.to_string())
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The first `model name` in a `/proc/cpuinfo` text (x86), else the
/// `Hardware` or `Processor` line some ARM kernels print.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Hardware", "Processor"]
        .into_iter()
        .find_map(|wanted| {
            cpuinfo.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                let value = value.trim();
                (key.trim() == wanted && !value.is_empty()).then(|| value.to_string())
            })
        })
}

/// `PRETTY_NAME` from an os-release text, unquoted.
fn os_pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value)
            .trim();
        (!value.is_empty()).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_from_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\
                   flags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(x86).as_deref(), Some("AMD EPYC 7B13"));
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nHardware\t: BCM2835\n";
        assert_eq!(cpu_model(arm).as_deref(), Some("BCM2835"));
        assert_eq!(cpu_model("processor : 0\nmodel name :\n"), None);
    }

    #[test]
    fn os_name_from_os_release() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n";
        assert_eq!(
            os_pretty_name(debian).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            os_pretty_name("PRETTY_NAME=Alpine\n").as_deref(),
            Some("Alpine")
        );
        assert_eq!(os_pretty_name("NAME=x\n"), None);
    }

    #[test]
    fn rfc3339_is_utc_with_whole_seconds() {
        // 2026-11-25 14:03:09.75 UTC
        let t =
            OffsetDateTime::from_unix_timestamp_nanos(1_795_615_389_750_000_000).expect("in range");
        assert_eq!(rfc3339(t), "2026-11-25T14:03:09Z");
        assert_eq!(rfc3339(OffsetDateTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // Leap day.
        let leap = OffsetDateTime::from_unix_timestamp(951_782_400).expect("in range");
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn capture_fills_every_field() {
        let env = EnvInfo::capture(&Timer::fixed(1.0, 0.0));
        for (name, value) in [
            ("cpu_model", &env.cpu_model),
            ("os", &env.os),
            ("kernel", &env.kernel),
            ("rustc", &env.rustc),
            ("profile", &env.profile),
        ] {
            assert!(!value.is_empty(), "{name} is empty");
        }
        // Set by build.rs from cargo's own variables on any machine.
        assert!(env.rustc.starts_with("rustc "), "{}", env.rustc);
        assert!(matches!(env.profile.as_str(), "debug" | "release"));
        assert_eq!(env.timer.kind, "instant");
        let tool = ToolInfo::current();
        assert_eq!(tool.name, "pfntrack");
        assert_eq!(tool.version, env!("CARGO_PKG_VERSION"));
    }
}
