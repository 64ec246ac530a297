//! `index.html`: a static page (no JavaScript) that opens with the
//! verdict of the newest full results (the table the lkml report leads
//! with, `crate::report::verdict`, rendered as HTML) and a table of
//! contents, then the trend charts (a history page is about them), then
//! the newest run's metadata and its per-scenario charts. Each SVG is
//! embedded with links to itself and its PNG, so a phone reader can open
//! a chart full size; the viewport meta and a narrow-screen style keep
//! the page readable at phone width.

use std::fmt::Write as _;

use super::{Chart, ChartKind, ChartSet, Run, short_commit};
use crate::report::verdict::{Verdict, verdict};

/// The page's style: charts scale to the width; below 700 px the margins
/// shrink and wide tables scroll sideways instead of squeezing.
const STYLE: &str = "\
body { font-family: 'DejaVu Sans', sans-serif; margin: 2em; max-width: 1240px; }\n\
table { border-collapse: collapse; }\n\
td, th { text-align: left; padding: 0.15em 0.8em 0.15em 0; vertical-align: top; }\n\
table.verdict td.n, table.verdict th.n { text-align: right; }\n\
table.verdict { margin-bottom: 0.5em; }\n\
table.verdict tr:first-child th { border-bottom: 1px solid #999; }\n\
.wide { overflow-x: auto; }\n\
code { font-size: 0.9em; }\n\
figure { margin: 1em 0 2em 0; }\n\
img { width: 100%; max-width: 1200px; height: auto; border: 1px solid #ddd; }\n\
.skipped, .legend { color: #555; }\n\
nav ul { padding-left: 1.2em; }\n\
@media (max-width: 700px) {\n\
  body { margin: 0.6em; }\n\
  td, th { padding-right: 0.5em; }\n\
}\n";

/// The page for `set`, drawn from `runs` (oldest first).
pub(super) fn html(runs: &[Run], set: &ChartSet) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>pfntrack charts</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <h1>pfntrack charts</h1>\n"
    );
    let newest = super::newest_full(runs);
    verdict_section(&mut h, newest.map(|(_, r)| r));

    let scenarios = scenarios(set);
    let trends: Vec<&Chart> = set
        .charts
        .iter()
        .filter(|c| c.kind == ChartKind::Trend)
        .collect();
    // The per-run kinds drawn, as the run's paragraph names them.
    let per_run: Vec<&str> = [
        (ChartKind::LatencyCdf, "latency"),
        (ChartKind::Memory, "memory"),
        (ChartKind::Throughput, "throughput"),
    ]
    .into_iter()
    .filter(|(k, _)| set.charts.iter().any(|c| c.kind == *k))
    .map(|(_, name)| name)
    .collect();

    // Table of contents.
    h.push_str("<nav id=\"contents\">\n<h2>Contents</h2>\n<ul>\n");
    if !trends.is_empty() {
        h.push_str("<li><a href=\"#trends\">Trends over runs</a>:");
        for (i, scenario) in scenarios.iter().enumerate() {
            if trends.iter().any(|c| c.scenario == *scenario) {
                let _ = write!(h, " <a href=\"#trend-{i}\">{}</a>", esc(scenario));
            }
        }
        h.push_str("</li>\n");
    }
    if newest.is_some() {
        h.push_str("<li><a href=\"#run\">The run</a> (tool, machine, parameters)</li>\n");
    }
    if runs.len() > 1 {
        h.push_str("<li><a href=\"#runs\">Runs in the trend charts</a></li>\n");
    }
    for (i, scenario) in scenarios.iter().enumerate() {
        let kinds: Vec<ChartKind> = ChartKind::ALL
            .into_iter()
            .filter(|k| *k != ChartKind::Trend)
            .filter(|k| {
                set.charts
                    .iter()
                    .any(|c| c.kind == *k && c.scenario == *scenario)
            })
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let _ = write!(
            h,
            "<li><a href=\"#scenario-{i}\">Scenario {}</a>:",
            esc(scenario)
        );
        for k in kinds {
            let _ = write!(
                h,
                " <a href=\"#scenario-{i}-{}\">{}</a>",
                k.name(),
                esc(k.name())
            );
        }
        h.push_str("</li>\n");
    }
    h.push_str("</ul>\n</nav>\n");

    for s in set.skipped.iter().filter(|s| s.scenario.is_empty()) {
        let _ = writeln!(
            h,
            "<p class=\"skipped\">No {} charts: {}.</p>",
            esc(s.kind.name()),
            esc(&s.reason)
        );
    }

    if !trends.is_empty() {
        h.push_str("<h2 id=\"trends\">Trends over runs</h2>\n");
        for (i, scenario) in scenarios.iter().enumerate() {
            let charts: Vec<&Chart> = trends
                .iter()
                .copied()
                .filter(|c| c.scenario == *scenario)
                .collect();
            if charts.is_empty() {
                continue;
            }
            let _ = writeln!(h, "<h3 id=\"trend-{i}\">{}</h3>", esc(scenario));
            for c in charts {
                figure(&mut h, c);
            }
        }
    }

    if let Some((newest, _)) = newest {
        run_table(&mut h, newest, runs.len() > 1, &per_run);
    }
    if runs.len() > 1 {
        h.push_str("<h2 id=\"runs\">Runs in the trend charts</h2>\n<div class=\"wide\"><table>\n");
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
        h.push_str("</table></div>\n");
    }

    if scenarios.len() > 1 && !per_run.is_empty() {
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
    for (i, scenario) in scenarios.iter().enumerate() {
        let kinds: Vec<ChartKind> = ChartKind::ALL
            .into_iter()
            .filter(|k| *k != ChartKind::Trend)
            .collect();
        let any = set
            .charts
            .iter()
            .any(|c| c.scenario == *scenario && kinds.contains(&c.kind))
            || set
                .skipped
                .iter()
                .any(|s| s.scenario == *scenario && kinds.contains(&s.kind));
        if !any {
            continue;
        }
        let _ = writeln!(h, "<h2 id=\"scenario-{i}\">Scenario {}</h2>", esc(scenario));
        for kind in kinds {
            let charts: Vec<_> = set
                .charts
                .iter()
                .filter(|c| c.scenario == *scenario && c.kind == kind)
                .collect();
            let skipped: Vec<_> = set
                .skipped
                .iter()
                .filter(|s| s.scenario == *scenario && s.kind == kind)
                .collect();
            if charts.is_empty() && skipped.is_empty() {
                continue;
            }
            let _ = writeln!(
                h,
                "<h3 id=\"scenario-{i}-{}\">{}</h3>",
                kind.name(),
                esc(kind.heading())
            );
            for s in skipped {
                let _ = writeln!(h, "<p class=\"skipped\">Not drawn: {}.</p>", esc(&s.reason));
            }
            for c in charts {
                figure(&mut h, c);
            }
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// Every scenario with a chart or a skipped chart, in first-seen order.
fn scenarios(set: &ChartSet) -> Vec<&str> {
    let mut scenarios: Vec<&str> = Vec::new();
    let named = set.charts.iter().map(|c| c.scenario.as_str()).chain(
        set.skipped
            .iter()
            .map(|s| s.scenario.as_str())
            .filter(|s| !s.is_empty()),
    );
    for s in named {
        if !scenarios.contains(&s) {
            scenarios.push(s);
        }
    }
    scenarios
}

/// One chart: the SVG, its title, links to the SVG (full size) and PNG.
fn figure(h: &mut String, c: &Chart) {
    let _ = writeln!(
        h,
        "<figure id=\"{stem}\"><a href=\"{stem}.svg\"><img src=\"{stem}.svg\" alt=\"{alt}\"></a>\
         <figcaption>{alt} &mdash; <a href=\"{stem}.svg\">SVG</a> \
         <a href=\"{stem}.png\">PNG</a></figcaption></figure>",
        stem = esc(&c.stem),
        alt = esc(&c.plot.title),
    );
}

/// The verdict of `results` as an HTML table with its legend, or a line
/// saying why there is none.
fn verdict_section(h: &mut String, results: Option<&crate::results::RunResults>) {
    h.push_str("<h2 id=\"verdict\">Verdict</h2>\n");
    let Some(results) = results else {
        h.push_str(
            "<p class=\"skipped\">No verdict: only run summaries were given; the verdict \
             needs a full results document.</p>\n",
        );
        return;
    };
    let Some(v) = verdict(results) else {
        h.push_str(
            "<p class=\"skipped\">No verdict: the newest results have no 1-thread block \
             with a design other than null.</p>\n",
        );
        return;
    };
    h.push_str("<div class=\"wide\"><table class=\"verdict\">\n<tr><th>design</th>");
    for head in Verdict::headings() {
        let _ = write!(h, "<th class=\"n\">{}</th>", esc(&head));
    }
    h.push_str("</tr>\n");
    for row in &v.rows {
        let _ = write!(h, "<tr><th>{}</th>", esc(&row.strategy.to_string()));
        for cell in Verdict::cells(row) {
            let _ = write!(
                h,
                "<td class=\"n\"><code>{}</code></td>",
                esc(cell.trim_end())
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
    let _ = writeln!(h, "<p class=\"legend\">{}</p>", esc(&v.legend()));
}

/// The newest run's metadata; `among` when other runs were given,
/// `charts` the kinds of per-run chart that show it.
fn run_table(h: &mut String, newest: &Run, among: bool, charts: &[&str]) {
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
    h.push_str("<h2 id=\"run\">The run</h2>\n<p>The verdict");
    if let Some((last, rest)) = charts.split_last() {
        let list = if rest.is_empty() {
            last.to_string()
        } else {
            format!("{} and {last}", rest.join(", "))
        };
        let _ = write!(h, " and the {list} charts");
    }
    h.push_str(" show this run");
    if among {
        h.push_str(" (the newest full results of those given)");
    }
    h.push_str(".</p>\n<div class=\"wide\"><table>\n");
    for (k, v) in rows {
        let _ = writeln!(
            h,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            esc(k),
            esc(&v)
        );
    }
    h.push_str("</table></div>\n");
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
