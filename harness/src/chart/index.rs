//! `index.html`: a static page (no JavaScript) listing every chart of a
//! [`ChartSet`] grouped by scenario, then kind, each SVG embedded with a
//! link to its PNG, under the newest run's metadata and the list of runs
//! the trend charts span.

use std::fmt::Write as _;

use super::{ChartKind, ChartSet, Run, short_commit};

/// The page for `set`, drawn from `runs` (oldest first).
pub(super) fn html(runs: &[Run], set: &ChartSet) -> String {
    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>pfntrack charts</title>\n<style>\n\
         body { font-family: sans-serif; margin: 2em; max-width: 1240px; }\n\
         table { border-collapse: collapse; }\n\
         td, th { text-align: left; padding: 0.15em 0.8em 0.15em 0; vertical-align: top; }\n\
         code { font-size: 0.9em; }\n\
         figure { margin: 1em 0 2em 0; }\n\
         img { width: 100%; max-width: 1200px; border: 1px solid #ddd; }\n\
         .skipped { color: #666; }\n\
         </style>\n</head>\n<body>\n<h1>pfntrack charts</h1>\n",
    );
    if let Some((newest, _)) = super::newest_full(runs) {
        let r = &newest.summary;
        let commit = match &r.tool.git_commit {
            Some(c) => format!(
                "{c}{}",
                if r.tool.git_dirty == Some(true) {
                    " (dirty tree)"
                } else {
                    ""
                }
            ),
            None => "unknown".to_string(),
        };
        let timer = &r.env.timer;
        let rows = [
            ("results", newest.path.display().to_string()),
            ("tool", format!("{} {}", r.tool.name, r.tool.version)),
            ("commit", commit),
            ("command", r.command.clone()),
            ("started", r.started_at.clone()),
            ("duration", format!("{:.1} s", r.duration_s)),
            (
                "machine",
                format!("{}, {} CPUs", r.env.cpu_model, r.env.nr_cpus),
            ),
            ("os", format!("{}, kernel {}", r.env.os, r.env.kernel)),
            ("build", format!("{}, {}", r.env.rustc, r.env.profile)),
            (
                "timer",
                format!(
                    "{}, overhead {:.1} ns{}",
                    timer.kind,
                    timer.overhead_ns,
                    timer
                        .resolution_ns
                        .map(|s| format!(", step {s:.1} ns"))
                        .unwrap_or_default()
                ),
            ),
            (
                "parameters",
                format!(
                    "{} repeats, threads {:?}, seed {} ({}), layout {}, slab CPUs {}{}",
                    r.params.repeats,
                    r.params.threads,
                    r.params.seed,
                    r.params.rng,
                    r.params.layout_config,
                    r.params.slab_nr_cpus,
                    if r.params.quick { ", quick" } else { "" }
                ),
            ),
        ];
        h.push_str("<h2>Run</h2>\n<p>Latency, memory and throughput charts show this run");
        if runs.len() > 1 {
            h.push_str(" (the newest of those given)");
        }
        h.push_str(".</p>\n<table>\n");
        for (k, v) in rows {
            let _ = writeln!(
                h,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                esc(k),
                esc(&v)
            );
        }
        h.push_str("</table>\n");
    }
    if runs.len() > 1 {
        h.push_str("<h2>Runs in the trend charts</h2>\n<table>\n");
        h.push_str("<tr><th>#</th><th>commit</th><th>started</th><th>file</th></tr>\n");
        for (i, run) in runs.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td>{i}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&short_commit(&run.summary.tool)),
                esc(&run.summary.started_at),
                esc(&run.path.display().to_string())
            );
        }
        h.push_str("</table>\n");
    }

    for s in set.skipped.iter().filter(|s| s.scenario.is_empty()) {
        let _ = writeln!(
            h,
            "<p class=\"skipped\">No {} charts: {}.</p>",
            esc(s.kind.name()),
            esc(&s.reason)
        );
    }

    let mut scenarios: Vec<&str> = Vec::new();
    for c in &set.charts {
        if !scenarios.contains(&c.scenario.as_str()) {
            scenarios.push(&c.scenario);
        }
    }
    for s in &set.skipped {
        if !s.scenario.is_empty() && !scenarios.contains(&s.scenario.as_str()) {
            scenarios.push(&s.scenario);
        }
    }
    if scenarios.len() > 1 {
        h.push_str("<p>Scenarios:");
        for (i, scenario) in scenarios.iter().enumerate() {
            let _ = write!(
                h,
                "{} <a href=\"#scenario-{i}\">{}</a>",
                if i == 0 { "" } else { "," },
                esc(scenario)
            );
        }
        h.push_str("</p>\n");
    }
    for (i, scenario) in scenarios.into_iter().enumerate() {
        let _ = writeln!(h, "<h2 id=\"scenario-{i}\">Scenario {}</h2>", esc(scenario));
        for kind in ChartKind::ALL {
            let charts: Vec<_> = set
                .charts
                .iter()
                .filter(|c| c.scenario == scenario && c.kind == kind)
                .collect();
            let skipped: Vec<_> = set
                .skipped
                .iter()
                .filter(|s| s.scenario == scenario && s.kind == kind)
                .collect();
            if charts.is_empty() && skipped.is_empty() {
                continue;
            }
            let _ = writeln!(h, "<h3>{}</h3>", esc(kind.heading()));
            for s in skipped {
                let _ = writeln!(h, "<p class=\"skipped\">Not drawn: {}.</p>", esc(&s.reason));
            }
            for c in charts {
                let _ = writeln!(
                    h,
                    "<figure id=\"{stem}\"><img src=\"{stem}.svg\" alt=\"{alt}\">\
                     <figcaption>{alt} &mdash; <a href=\"{stem}.svg\">SVG</a> \
                     <a href=\"{stem}.png\">PNG</a></figcaption></figure>",
                    stem = esc(&c.stem),
                    alt = esc(&c.plot.title),
                );
            }
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// Escape text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
