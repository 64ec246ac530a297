//! Every byte the commands print, and the check of every output path
//! before any work starts.
//!
//! stdout goes through [`print`] / [`with_stdout`], never `print!`: the
//! standard macros panic when the write fails (`> /dev/full`, a closed
//! pipe). Here a closed pipe (EPIPE; Rust ignores SIGPIPE, so the write
//! returns it) becomes [`OutputError::Closed`], which `main` turns into a
//! quiet exit with status [`CLOSED_PIPE_EXIT`]; any other write error
//! becomes [`OutputError::Write`], printed as `Error: ...` with exit
//! status 1. Notes on stderr go through [`note`], which drops its own
//! write errors: there is nowhere left to report them.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Exit status when stdout's reader went away: 128 + SIGPIPE (13), what a
/// shell reports for a C tool killed by SIGPIPE (`seq 1 1000000 | head -1`
/// under `set -o pipefail`), so scripts treat pfntrack like coreutils.
pub const CLOSED_PIPE_EXIT: u8 = 128 + 13;

/// Exit status of any other failed write to stdout.
pub const WRITE_ERROR_EXIT: u8 = 1;

/// Why output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader of stdout is gone (EPIPE): not an error to report.
    #[error("stdout was closed by its reader")]
    Closed,
    /// Any other failure to write stdout (full disk, I/O error).
    #[error("writing to stdout: {0}")]
    Write(io::Error),
}

impl OutputError {
    /// Classify an I/O error from a write to stdout.
    pub fn from_io(error: io::Error) -> OutputError {
        if error.kind() == io::ErrorKind::BrokenPipe {
            OutputError::Closed
        } else {
            OutputError::Write(error)
        }
    }

    /// The exit status `main` uses for this error.
    pub fn exit_status(&self) -> u8 {
        match self {
            OutputError::Closed => CLOSED_PIPE_EXIT,
            OutputError::Write(_) => WRITE_ERROR_EXIT,
        }
    }
}

/// Write `text` to stdout and flush it.
pub fn print(text: &str) -> Result<(), OutputError> {
    with_stdout(|w| w.write_all(text.as_bytes()))
}

/// Run `write` on a locked, buffered stdout and flush it; its I/O errors
/// are classified as [`OutputError`]s.
pub fn with_stdout(
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), OutputError> {
    let stdout = io::stdout();
    let mut w = io::BufWriter::new(stdout.lock());
    write(&mut w)
        .and_then(|()| w.flush())
        .map_err(OutputError::from_io)
}

/// A line on stderr for the person at the terminal; a failed write is
/// dropped (stderr is where errors would go).
pub fn note(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// An output path that cannot be written, found before any work.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {}: {reason}", path.display())]
pub struct OutPathError {
    /// The flag or argument that named the path.
    pub flag: &'static str,
    /// The path.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// Check that `dir` is, or can be made, a directory that accepts new
/// files: its nearest existing ancestor (itself, if it exists) must be a
/// directory in which a probe file can be created and removed. Nothing
/// else is created, so a command that stops later leaves no trace. Run
/// this before measuring so a typo does not cost the measurements.
pub fn check_out_dir(flag: &'static str, dir: &Path) -> Result<(), OutPathError> {
    let fail = |reason: String| OutPathError {
        flag,
        path: dir.to_path_buf(),
        reason,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(fail("exists and is not a directory".into()));
    }
    let existing = nearest_existing(dir);
    if !existing.is_dir() {
        return Err(fail(format!("{} is not a directory", existing.display())));
    }
    probe(&existing).map_err(|e| fail(format!("cannot write in {}: {e}", existing.display())))
}

/// Check that `file` can be written: not a directory, and its directory
/// passes [`check_out_dir`].
pub fn check_out_file(flag: &'static str, file: &Path) -> Result<(), OutPathError> {
    let fail = |reason: String| OutPathError {
        flag,
        path: file.to_path_buf(),
        reason,
    };
    if file.is_dir() {
        return Err(fail("is a directory".into()));
    }
    if file.file_name().is_none() {
        return Err(fail("names no file".into()));
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    check_out_dir(flag, dir).map_err(|e| fail(e.reason))
}

/// `path` or its nearest ancestor that exists (`.` for a relative path
/// none of whose ancestors exist).
fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Create and remove an empty file in `dir`.
fn probe(dir: &Path) -> io::Result<()> {
    let path = dir.join(format!(".pfntrack-probe.{}", std::process::id()));
    fs::File::create(&path)?;
    fs::remove_file(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_closed_and_others_are_errors() {
        let closed = OutputError::from_io(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(closed, OutputError::Closed));
        assert_eq!(closed.exit_status(), CLOSED_PIPE_EXIT);
        let full = OutputError::from_io(io::Error::from_raw_os_error(28));
        assert!(matches!(full, OutputError::Write(_)));
        assert_eq!(full.exit_status(), WRITE_ERROR_EXIT);
    }

    #[test]
    fn out_dir_checks() {
        let base = std::env::temp_dir().join(format!("pfntrack-out-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let dir = base.join("a/b");
        fs::create_dir_all(&base).unwrap();
        check_out_dir("--out", &dir).expect("a new directory is fine");
        assert!(!dir.exists(), "nothing is created");
        assert_eq!(
            fs::read_dir(&base).unwrap().count(),
            0,
            "the probe is removed"
        );
        fs::create_dir_all(&dir).unwrap();
        let file = base.join("file");
        fs::write(&file, "x").unwrap();
        let err = check_out_dir("--out", &file).unwrap_err().to_string();
        assert!(
            err.starts_with("--out ") && err.contains("not a directory"),
            "{err}"
        );
        let err = check_out_file("--out", &dir).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let err = check_out_file("--out", &file.join("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a directory"), "{err}");
        check_out_file("--out", &dir.join("t.trace")).expect("a new file in a directory");
        fs::remove_dir_all(&base).unwrap();
    }
}
