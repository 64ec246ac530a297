//! The `markdown` report: the lkml report's content as GitHub-flavoured
//! markdown, for an issue or pull request. The run description is a table,
//! the command a `sh` code block, each scenario and thread count a table
//! with a bold heading row per hook; significance stars are escaped so
//! they show as `*+9.17%*` instead of turning the cell italic.

use crate::report::lkml::{block_notes, block_title, header_fields, legend};
use crate::report::summary::{self, MetricGroup};
use crate::report::{Exporter, cell_parts, group_heading};
use crate::results::RunResults;

/// The `markdown` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Markdown;

/// `s` safe inside a table cell or a line of prose: pipes and markdown
/// emphasis characters escaped, line breaks flattened.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '*' | '_' | '`' | '\\' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl Exporter for Markdown {
    fn render(&self, results: &RunResults) -> String {
        let mut l = vec![
            "## pfntrack: x86 PAT pfnmap tracking designs, side by side".to_string(),
            String::new(),
            "| | |".to_string(),
            "|---|---|".to_string(),
        ];
        for (key, value) in header_fields(results) {
            l.push(format!("| {key} | {} |", escape(&value)));
        }
        l.push(String::new());
        l.push("Reproduce:".to_string());
        l.push(String::new());
        // A fence longer than any backtick run in the command keeps it whole.
        let longest = results
            .command
            .split(|c| c != '`')
            .map(str::len)
            .max()
            .unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        l.push(format!("{fence}sh"));
        l.push(results.command.replace(['\n', '\r'], " "));
        l.push(fence);
        l.push(String::new());
        l.push(escape(&legend(results)));
        let verdict = crate::report::verdict::markdown_lines(results);
        if !verdict.is_empty() {
            l.push(String::new());
            l.extend(verdict);
        }
        for block in summary::blocks(results) {
            l.push(String::new());
            l.push(format!("### {}", escape(&block_title(&block))));
            l.push(String::new());
            if block.designs.is_empty() {
                l.push("No design measured but the null design.".to_string());
            } else {
                let mut head = "| metric |".to_string();
                let mut align = "|:---|".to_string();
                for (i, d) in block.designs.iter().enumerate() {
                    let label = block
                        .labels
                        .get(i)
                        .map_or(d.strategy.name(), |l| l.as_str());
                    head.push_str(&format!(" {} |", escape(label)));
                    align.push_str("---:|");
                }
                l.push(head);
                l.push(align);
                let blanks = " |".repeat(block.designs.len());
                let mut group: Option<MetricGroup> = None;
                for row in &block.rows {
                    let g = row.metric.group();
                    if group != Some(g) {
                        l.push(format!(
                            "| **{}** |{blanks}",
                            escape(&group_heading(g, block.threads))
                        ));
                        group = Some(g);
                    }
                    let mut line = format!("| {} |", row.metric.label());
                    for i in 0..block.designs.len() {
                        let parts = cell_parts(row, i);
                        let cell: Vec<&str> = parts
                            .iter()
                            .map(String::as_str)
                            .filter(|p| !p.is_empty())
                            .collect();
                        line.push_str(&format!(" {} |", escape(&cell.join(" "))));
                    }
                    l.push(line);
                }
            }
            let notes = block_notes(&block);
            if !notes.is_empty() {
                l.push(String::new());
                for note in notes {
                    l.push(format!("- {}", escape(&note)));
                }
            }
        }
        let mut out = l.join("\n");
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn tables_have_one_column_per_design_and_escaped_stars() {
        let out = Markdown.render(&Fixture::new().build());
        assert!(
            out.contains("| metric | per-vma | xarray | memtype-ext |\n|:---|---:|---:|---:|\n"),
            "{out}"
        );
        let dup = out
            .lines()
            .skip_while(|l| !l.starts_with("| **dup:"))
            .nth(1)
            .unwrap();
        assert!(dup.starts_with("| tmean | "), "{dup}");
        assert!(dup.contains("(0.00%)"), "{dup}");
        assert!(dup.contains("\\*+18"), "{dup}");
        // Every table row has the header's number of cells (the verdict
        // table has its own: 1 + 2 memory + 5 hook columns).
        let verdict = crate::report::verdict::markdown_lines(&Fixture::new().build());
        for line in out
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| |"))
            .filter(|l| !verdict.iter().any(|v| v == l))
        {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(cells == 5 || cells == 3, "{cells}: {line}");
        }
        assert!(out.contains("```sh\npfntrack run "), "{out}");
        assert!(out.contains("- harness floor (null design): "), "{out}");
    }

    #[test]
    fn escape_keeps_tables_whole() {
        assert_eq!(escape("a|b*c_d\ne"), "a\\|b\\*c\\_d e");
    }
}
