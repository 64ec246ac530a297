//! Text helpers shared by the report formats: ASCII-only cleaning, word
//! wrapping within a column limit, shell-safe wrapping of a command line
//! with ` \` continuations, and number formats with sensible units.

use std::borrow::Cow;

/// Column limit of plain-text (lkml) output.
pub const WIDTH: usize = 80;

/// `s` with every character that is not printable ASCII replaced by `?`,
/// so text from a results file cannot break a plain-text table.
pub fn ascii(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
                .collect(),
        )
    }
}

/// Word-wrap `text` (ASCII) into lines of at most `width` columns: the
/// first starts with `first`, the rest with `rest`. Words longer than a
/// line are cut.
pub fn wrap(text: &str, first: &str, rest: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let sep = usize::from(!empty);
        if !empty && line.len() + sep + word.len() > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        let mut word = word;
        loop {
            let sep = usize::from(!empty);
            let room = width.saturating_sub(line.len() + sep).max(1);
            if word.len() <= room {
                if !empty {
                    line.push(' ');
                }
                line.push_str(word);
                empty = false;
                break;
            }
            if !empty {
                lines.push(std::mem::replace(&mut line, rest.to_string()));
                empty = true;
                continue;
            }
            // A word longer than a whole line: cut it (ASCII, so any
            // byte index is a character boundary).
            let room = width.saturating_sub(line.len()).max(1);
            line.push_str(&word[..room]);
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            word = &word[room..];
        }
    }
    if !empty || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Quoting state of a POSIX shell word being scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Split a command line into its shell words, each with its quoting kept
/// as written (so joining them with spaces gives the same command).
fn shell_words(cmd: &str) -> Vec<&str> {
    let bytes = cmd.as_bytes();
    let mut words = Vec::new();
    let mut start = None;
    let mut quote = Quote::None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Quote::None if b == b' ' || b == b'\t' || b == b'\n' => {
                if let Some(s) = start.take() {
                    words.push(&cmd[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
                match (quote, b) {
                    (Quote::None, b'\\') | (Quote::Double, b'\\') => i += 1,
                    (Quote::None, b'\'') => quote = Quote::Single,
                    (Quote::None, b'"') => quote = Quote::Double,
                    (Quote::Single, b'\'') | (Quote::Double, b'"') => quote = Quote::None,
                    _ => {}
                }
            }
        }
        i += 1;
    }
    if let Some(s) = start {
        words.push(&cmd[s.min(cmd.len())..]);
    }
    words
}

/// Words grouped so that an option and its value (`--out FILE`) stay on
/// one line when they fit.
fn option_units<'a>(words: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut units = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let takes_value = w.len() > 1 && w.starts_with('-') && !w.contains('=');
        match words.get(i + 1) {
            Some(next) if takes_value && !next.starts_with('-') => {
                units.push(vec![w, *next]);
                i += 2;
            }
            _ => {
                units.push(vec![w]);
                i += 1;
            }
        }
    }
    units
}

/// Cut one over-long shell word into pieces that each fit `first` then
/// `rest` columns with a trailing `\`. A backslash-newline is removed by
/// the shell outside single quotes; inside them the piece closes the quote
/// before the `\` and the next piece reopens it.
fn cut_word(word: &str, first: usize, rest: usize) -> Vec<String> {
    let bytes = word.as_bytes();
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut quote = Quote::None;
    let mut room = first;
    let mut i = 0;
    while i < bytes.len() {
        // An escape and the character it escapes stay together.
        let escaped = quote != Quote::Single && bytes[i] == b'\\' && i + 1 < bytes.len();
        let len = if escaped { 2 } else { 1 };
        // Keep room for `\` (and `'` to close a single quote); one more,
        // so the last piece still has room for a ` \` after it.
        let reserve = 2 + usize::from(quote == Quote::Single);
        if !piece.is_empty() && piece.len() + len + reserve > room {
            if quote == Quote::Single {
                piece.push('\'');
            }
            piece.push('\\');
            pieces.push(std::mem::take(&mut piece));
            if quote == Quote::Single {
                piece.push('\'');
            }
            room = rest;
        }
        piece.push_str(&word[i..i + len]);
        if !escaped {
            match (quote, bytes[i]) {
                (Quote::None, b'\'') => quote = Quote::Single,
                (Quote::None, b'"') => quote = Quote::Double,
                (Quote::Single, b'\'') | (Quote::Double, b'"') => quote = Quote::None,
                _ => {}
            }
        }
        i += len;
    }
    pieces.push(piece);
    pieces
}

/// Lines of `cmd` (ASCII) to paste into a shell, each at most `width`
/// columns: the first indented by `indent`, continuation lines by
/// `indent + 4`, broken between words with ` \`. A word too long for a
/// line is cut with backslash-newlines that the shell removes; its
/// continuation pieces start at column 0 (indenting them would add to the
/// word).
pub fn wrap_command(cmd: &str, indent: usize, width: usize) -> Vec<String> {
    let mut out = CommandLines {
        lines: Vec::new(),
        line: " ".repeat(indent),
        empty: true,
        cont: indent + 4,
        width,
    };
    for unit in option_units(&shell_words(cmd)) {
        let joined = unit.join(" ");
        // A unit goes whole if it fits a fresh line; else word by word.
        if unit.len() == 1 || out.cont + joined.len() + 2 <= width {
            out.place(&joined);
        } else {
            for word in unit {
                out.place(word);
            }
        }
    }
    out.lines.push(out.line);
    out.lines
}

/// [`wrap_command`]'s output so far.
struct CommandLines {
    lines: Vec<String>,
    line: String,
    empty: bool,
    cont: usize,
    width: usize,
}

impl CommandLines {
    fn place(&mut self, word: &str) {
        let width = self.width;
        // Room for " \" at the end of every line but the last.
        if !self.empty && self.line.len() + 1 + word.len() + 2 > width {
            self.line.push_str(" \\");
            let next = " ".repeat(self.cont);
            self.lines.push(std::mem::replace(&mut self.line, next));
            self.empty = true;
        }
        if self.line.len() + word.len() + 2 <= width {
            if !self.empty {
                self.line.push(' ');
            }
            self.line.push_str(word);
            self.empty = false;
            return;
        }
        // Alone on a line and still too long: cut it.
        let first = width.saturating_sub(self.line.len()).max(4);
        let pieces = cut_word(word, first, width);
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            self.line.push_str(&piece);
            if i < last {
                self.lines.push(std::mem::take(&mut self.line));
            }
        }
        self.empty = false;
    }
}

/// Nanoseconds: one decimal below `decimals_below`, whole numbers up to
/// 100 us, then us / ms / s with a suffix.
fn ns(v: f64, decimals_below: f64) -> String {
    let a = v.abs();
    if a < decimals_below {
        format!("{v:.1}")
    } else if a < 1e5 {
        format!("{v:.0}")
    } else if a < 1e6 {
        format!("{:.1}us", v / 1e3)
    } else if a < 1e9 {
        format!("{:.2}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

/// A mean latency: `412.3`, `1235`, `123.4us`.
pub fn ns_mean(v: f64) -> String {
    ns(v, 1000.0)
}

/// A percentile latency, whole nanoseconds: `410`, `123.4us`.
pub fn ns_whole(v: f64) -> String {
    ns(v, 0.0)
}

/// A rate with a K/M/G suffix: `950.0`, `412.5K`, `2.41M`.
pub fn rate(v: f64) -> String {
    let a = v.abs();
    if a < 1e3 {
        format!("{v:.1}")
    } else if a < 1e6 {
        format!("{:.1}K", v / 1e3)
    } else if a < 1e9 {
        format!("{:.2}M", v / 1e6)
    } else {
        format!("{:.2}G", v / 1e9)
    }
}

/// A byte count with a binary suffix: `512B`, `28.0KiB`, `1.25MiB`.
pub fn bytes(v: f64) -> String {
    let a = v.abs();
    if a < 1024.0 {
        format!("{v:.0}B")
    } else if a < 1024.0 * 1024.0 {
        format!("{:.1}KiB", v / 1024.0)
    } else if a < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}MiB", v / (1024.0 * 1024.0))
    } else {
        format!("{:.2}GiB", v / (1024.0 * 1024.0 * 1024.0))
    }
}

/// A signed percentage without the `%`: two decimals below 100, one
/// below 1000, none above; `0.00` for anything that rounds to zero.
pub fn pct(v: f64) -> String {
    let a = v.abs();
    if a < 0.005 {
        "0.00".to_string()
    } else if a < 100.0 {
        format!("{v:+.2}")
    } else if a < 1000.0 {
        format!("{v:+.1}")
    } else {
        format!("{v:+.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a POSIX shell makes of `script`: remove backslash-newline
    /// outside single quotes, then split into words with quotes removed.
    fn shell_parse(script: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut quote = Quote::None;
        let mut chars = script.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Quote::Single, '\'') => quote = Quote::None,
                (Quote::Single, c) => word.push(c),
                (_, '\\') => match chars.next() {
                    Some('\n') => {}
                    Some(n) if quote == Quote::Double && !matches!(n, '"' | '\\' | '$' | '`') => {
                        word.push('\\');
                        word.push(n);
                    }
                    Some(n) => {
                        word.push(n);
                        in_word = true;
                    }
                    None => word.push('\\'),
                },
                (Quote::Double, '"') => quote = Quote::None,
                (Quote::Double, c) => word.push(c),
                (Quote::None, ' ' | '\n' | '\t') => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                (Quote::None, '\'') => {
                    quote = Quote::Single;
                    in_word = true;
                }
                (Quote::None, '"') => {
                    quote = Quote::Double;
                    in_word = true;
                }
                (Quote::None, c) => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        words
    }

    fn check_command(cmd: &str, indent: usize, width: usize) {
        let lines = wrap_command(cmd, indent, width);
        for l in &lines {
            assert!(l.len() <= width, "{} > {width}: {l:?}\n{lines:#?}", l.len());
        }
        let script = lines.join("\n");
        assert_eq!(
            shell_parse(&script),
            shell_parse(cmd),
            "wrap_command({cmd:?}, {indent}, {width}) =\n{script}"
        );
    }

    #[test]
    fn commands_wrap_between_words() {
        let cmd = "pfntrack run --scenario fork-exec,mremap-storm --designs \
                   per-vma,xarray,memtype-ext,null --repeats 10 --threads 2 \
                   --seed 42 --out bench-results/2026-11-25/run.json";
        let lines = wrap_command(cmd, 2, 80);
        assert_eq!(
            lines,
            [
                "  pfntrack run --scenario fork-exec,mremap-storm \\",
                "      --designs per-vma,xarray,memtype-ext,null --repeats 10 --threads 2 \\",
                "      --seed 42 --out bench-results/2026-11-25/run.json",
            ]
        );
        check_command(cmd, 2, 80);
        assert_eq!(wrap_command("pfntrack run", 2, 80), ["  pfntrack run"]);
    }

    #[test]
    fn long_words_are_cut_where_the_shell_rejoins_them() {
        let long = format!("--out /tmp/{}/run.json", "d".repeat(150));
        check_command(&format!("pfntrack run {long}"), 2, 80);
        let quoted = format!("pfntrack run --scenario 'a b {}' x", "q".repeat(200));
        check_command(&quoted, 2, 80);
        let lines = wrap_command(&quoted, 2, 80);
        assert!(lines.iter().any(|l| l.ends_with("'\\")), "{lines:#?}");
        let dq = format!("pfntrack run --out \"{}\\\"x\"", "z".repeat(170));
        check_command(&dq, 2, 40);
    }

    proptest! {
        #[test]
        fn wrapped_commands_parse_to_the_same_words(
            words in proptest::collection::vec(
                prop_oneof![
                    "[a-z0-9/._,=-]{1,30}",
                    "[a-z0-9/._,=-]{60,130}",
                    "'[a-z \"\\\\]{0,100}'",
                    "\"[a-z ']{0,100}\"",
                    "[a-z]{1,5}'[a-z ]{1,90}'[a-z]{0,5}",
                ],
                1..12,
            ),
            indent in 0usize..6,
            width in 30usize..100,
        ) {
            check_command(&words.join(" "), indent, width);
        }
    }

    #[test]
    fn wrap_respects_width_and_cuts_long_words() {
        let text = "a".repeat(30) + " bb cc " + &"d".repeat(100);
        let lines = wrap(&text, "note: ", "      ", 40);
        for l in &lines {
            assert!(l.len() <= 40, "{l:?}");
        }
        let joined: String = lines.iter().map(|l| l[6..].replace(' ', "")).collect();
        assert_eq!(joined, text.replace(' ', ""));
        assert_eq!(wrap("", "x: ", "   ", 80), ["x: "]);
    }

    #[test]
    fn ascii_replaces_what_would_break_a_table() {
        assert_eq!(ascii("plain"), "plain");
        assert_eq!(ascii("caf\u{e9}\tx\ny"), "caf??x?y");
    }

    #[test]
    fn number_formats() {
        assert_eq!(ns_mean(412.345), "412.3");
        assert_eq!(ns_mean(1234.5), "1234");
        assert_eq!(ns_mean(123_456.0), "123.5us");
        assert_eq!(ns_mean(12_345_678.0), "12.35ms");
        assert_eq!(ns_mean(2.5e9), "2.50s");
        assert_eq!(ns_whole(410.0), "410");
        assert_eq!(ns_whole(3.0), "3");
        assert_eq!(rate(950.0), "950.0");
        assert_eq!(rate(412_500.0), "412.5K");
        assert_eq!(rate(2_410_000.0), "2.41M");
        assert_eq!(bytes(512.0), "512B");
        assert_eq!(bytes(28_672.0), "28.0KiB");
        assert_eq!(bytes(1_310_720.0), "1.25MiB");
        assert_eq!(pct(0.0), "0.00");
        assert_eq!(pct(-0.001), "0.00");
        assert_eq!(pct(9.1666), "+9.17");
        assert_eq!(pct(-12.0), "-12.00");
        assert_eq!(pct(126.22), "+126.2");
        assert_eq!(pct(4321.0), "+4321");
    }
}
