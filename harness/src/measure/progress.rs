//! A progress bar on stderr for long runs (indicatif), shown only to a
//! person at a terminal: hidden under `--quiet`, in pipes, in CI logs.
//!
//! Invariant: a hidden `Progress` holds no bar, so every method is a
//! branch on `None` and does no formatting or atomic work; callers with a
//! costly message use [`Progress::set_message_with`].

use std::borrow::Cow;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of `total` steps of work.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` steps labelled `what`; drawn only when stderr is a
    /// terminal and `quiet` is false.
    pub fn new(total: u64, what: &str, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(what.to_string());
        Progress { bar: Some(bar) }
    }

    /// A progress that shows nothing.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Whether a bar is drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// `n` more steps done.
    #[inline]
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Show `msg` after the bar.
    pub fn set_message(&self, msg: impl Into<Cow<'static, str>>) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }

    /// Show the message `make` builds, calling it only if a bar is drawn.
    pub fn set_message_with(&self, make: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.set_message(make());
        }
    }

    /// Done: leave the completed bar on screen, its line ended so the
    /// next line on the terminal (the report, a shell prompt) starts in
    /// column 0: indicatif leaves the cursor after the last frame.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
            crate::output::note(format_args!(""));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_is_hidden_and_lazy() {
        let p = Progress::new(10, "run", true);
        assert!(!p.is_visible());
        p.inc(3);
        p.set_message("x");
        p.set_message_with(|| unreachable!("hidden progress formats nothing"));
        p.finish();
    }
}
