//! Absurd sizes and values on the command line are refused before anything is
//! allocated: a clear error naming the setting, exit status 2, never an
//! abort on a failed allocation (status 134) or a panic (101).

use std::process::Command;

fn refused(args: &[&str], names: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_pfntrack"))
        .args(args)
        .output()
        .expect("run pfntrack");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?}");
    assert!(
        err.starts_with("Error: ") && err.contains(names),
        "{args:?}: {err}"
    );
}

#[test]
fn a_huge_churn_is_refused_with_an_estimate() {
    let out = std::env::temp_dir().join(format!("pfntrack-limits-{}", std::process::id()));
    let out = out.to_str().unwrap();
    for cmd in [
        vec!["gen", "--scenario", "fork-storm"],
        vec!["check", "--scenario", "fork-storm"],
        vec!["run", "--scenario", "fork-storm", "--quiet", "--out", out],
    ] {
        let mut args = cmd.clone();
        args.extend(["--param", "churn_ops=4294967295"]);
        refused(
            &args,
            "scenario field `churn_ops` (4294967295): the workload would need about",
        );
    }
}

#[test]
fn id_limits_name_the_field_at_fault() {
    for (param, field) in [
        ("bars=4294967295", "`bars`"),
        ("ioremaps=4294967295", "`ioremaps`"),
        ("max_children=4294967295", "`max_children`"),
        ("processes=4194304", "`processes`"),
    ] {
        refused(&["gen", "--scenario", "mixed", "--param", param], field);
    }
}

#[test]
fn a_negative_seed_is_refused_as_a_seed() {
    for cmd in [
        vec!["run", "--quick"],
        vec!["gen", "--scenario", "mixed"],
        vec!["check", "--scenario", "mixed"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--seed", "-1"]);
        let o = Command::new(env!("CARGO_BIN_EXE_pfntrack"))
            .args(&args)
            .output()
            .expect("run pfntrack");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("invalid value '-1' for '--seed <SEED>': a seed is a whole number"),
            "{args:?}: {err}"
        );
    }
}
