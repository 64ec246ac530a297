//! Transcripts: everything a guest said during one kernel run, saved by
//! `kernel-check --record DIR` and checked again, without a VM, by
//! `kernel-check --transcript FILE`. They are the recorded "expected kernel
//! behaviour" fixtures of the tests.
//!
//! Format: JSON lines. Line 1 is a [`TranscriptHeader`] (the kernel, the
//! devices, the traces' full text); every further line is one
//! [`GuestMsg`] as the guest sent it.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Lines, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::lockstep::MsgSource;
use super::protocol::{GuestDevice, GuestMsg};
use super::series::Series;

/// Version of the transcript format.
pub const TRANSCRIPT_VERSION: u32 = 1;

/// The first line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptHeader {
    /// [`TRANSCRIPT_VERSION`].
    pub transcript: u32,
    /// The kernel series booted.
    pub series: Series,
    /// Its Debian package.
    pub package: String,
    /// The package version.
    pub version: String,
    /// The job's devices.
    pub devices: Vec<GuestDevice>,
    /// The traces replayed, in order, with their text.
    pub traces: Vec<TranscriptTrace>,
}

/// A trace inside a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptTrace {
    /// The name it was replayed under.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// Writes a transcript atomically: to a temporary file beside `path`,
/// renamed into place by [`TranscriptWriter::finish`]; dropped unfinished,
/// the temporary file is removed.
pub struct TranscriptWriter {
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
}

impl TranscriptWriter {
    /// Start `path` with `header`.
    pub fn create(path: &Path, header: &TranscriptHeader) -> anyhow::Result<TranscriptWriter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "transcript".into());
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = TranscriptWriter {
            out: Some(BufWriter::new(f)),
            tmp,
            path: path.to_path_buf(),
        };
        w.line(&serde_json::to_string(header).expect("headers serialize"))?;
        Ok(w)
    }

    fn line(&mut self, s: &str) -> anyhow::Result<()> {
        let out = self.out.as_mut().expect("not finished");
        writeln!(out, "{s}").with_context(|| format!("writing {}", self.tmp.display()))
    }

    /// Append one message.
    pub fn msg(&mut self, m: &GuestMsg) -> anyhow::Result<()> {
        self.line(&serde_json::to_string(m).expect("messages serialize"))
    }

    /// Flush, sync and move into place.
    pub fn finish(mut self) -> anyhow::Result<PathBuf> {
        let out = self.out.take().expect("not finished");
        let f = out
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing {}: {}", self.tmp.display(), e.error()))?;
        f.sync_all()
            .with_context(|| format!("writing {}", self.tmp.display()))?;
        fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("moving {} into place", self.path.display()))?;
        Ok(self.path.clone())
    }
}

impl Drop for TranscriptWriter {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A transcript's messages, read line by line.
pub struct TranscriptReader {
    lines: Lines<BufReader<File>>,
    path: PathBuf,
    line: usize,
}

/// Open a transcript: its header and a reader of its messages. Errors
/// name the file and line.
pub fn open_transcript(path: &Path) -> anyhow::Result<(TranscriptHeader, TranscriptReader)> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = BufReader::new(f).lines();
    let first = match lines.next() {
        Some(l) => l.with_context(|| format!("reading {}", path.display()))?,
        None => bail!("{}:1: empty file, not a transcript", path.display()),
    };
    let header: TranscriptHeader = serde_json::from_str(&first)
        .with_context(|| format!("{}:1: not a kernel-check transcript header", path.display()))?;
    if header.transcript != TRANSCRIPT_VERSION {
        bail!(
            "{}:1: transcript format v{}, but this pfntrack reads v{TRANSCRIPT_VERSION}",
            path.display(),
            header.transcript
        );
    }
    Ok((
        header,
        TranscriptReader {
            lines,
            path: path.to_path_buf(),
            line: 1,
        },
    ))
}

impl MsgSource for TranscriptReader {
    fn next_msg(&mut self) -> anyhow::Result<Option<GuestMsg>> {
        loop {
            let Some(l) = self.lines.next() else {
                return Ok(None);
            };
            self.line += 1;
            let l = l.with_context(|| format!("{}:{}", self.path.display(), self.line))?;
            if l.trim().is_empty() {
                continue;
            }
            return serde_json::from_str(&l).map(Some).with_context(|| {
                format!("{}:{}: not a guest message", self.path.display(), self.line)
            });
        }
    }
}

/// A message source that also writes every message to a transcript.
pub struct Recording<'a> {
    /// Where messages come from.
    pub inner: &'a mut dyn MsgSource,
    /// Where they also go.
    pub out: &'a mut TranscriptWriter,
}

impl MsgSource for Recording<'_> {
    fn next_msg(&mut self) -> anyhow::Result<Option<GuestMsg>> {
        let m = self.inner.next_msg()?;
        if let Some(m) = &m {
            self.out.msg(m)?;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let dir = std::env::temp_dir().join(format!("pfntrack-transcript-{}", std::process::id()));
        let path = dir.join("t.jsonl");
        let header = TranscriptHeader {
            transcript: TRANSCRIPT_VERSION,
            series: "7.3".parse().unwrap(),
            package: "p".into(),
            version: "v".into(),
            devices: vec![],
            traces: vec![TranscriptTrace {
                name: "a.trace".into(),
                text: "pfntrack-trace v1\n".into(),
            }],
        };
        {
            // Dropped unfinished: nothing is left behind.
            let mut w = TranscriptWriter::create(&path, &header).unwrap();
            w.msg(&GuestMsg::Done).unwrap();
        }
        assert!(!path.exists());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let mut w = TranscriptWriter::create(&path, &header).unwrap();
        w.msg(&GuestMsg::End { trace: 0 }).unwrap();
        w.msg(&GuestMsg::Done).unwrap();
        w.finish().unwrap();
        let (h, mut r) = open_transcript(&path).unwrap();
        assert_eq!(h, header);
        assert_eq!(r.next_msg().unwrap(), Some(GuestMsg::End { trace: 0 }));
        assert_eq!(r.next_msg().unwrap(), Some(GuestMsg::Done));
        assert_eq!(r.next_msg().unwrap(), None);
        fs::write(&path, "{\"transcript\":1}\n").unwrap();
        let e = open_transcript(&path).err().unwrap();
        assert!(format!("{e:#}").contains("t.jsonl:1"), "{e:#}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
