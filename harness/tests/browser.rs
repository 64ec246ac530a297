//! The chart pages in a real browser: `pfntrack chart` output loaded in
//! headless Chromium (Debian's `chromium`, installed by
//! `scripts/install-chromium.sh`, which `.ci/run` calls first). A page
//! fails when any image does not load or the browser logs any console
//! message or error; screenshots at 1400 and 500 px widths go to
//! `target/tmp/browser-artifacts/` (the CI keeps them as an artifact),
//! with `checks.txt` recording what each page measured (the offset of its
//! first trend chart among them).
//!
//! How a page is checked: a copy of it with a small probe script added
//! first in `<head>` (the pages themselves have no script) is loaded with
//! `--dump-dom`; on `load` the probe lists the images that did not decode,
//! the errors it caught (failed resource loads, uncaught exceptions,
//! `console.error`) and the layout figures, into an element the dumped DOM
//! carries back. Console messages the browser logs on stderr count too.
//!
//! Without Chromium the tests say SKIPPED loudly on stderr, and fail when
//! `PFNTRACK_REQUIRE_BROWSER=1` says it must be there.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The probe added to a copy of each page (see the header).
const PROBE: &str = r#"<script>
(function () {
  var errors = [];
  var log = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    log.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t.tagName) {
      errors.push("failed to load: <" + t.tagName.toLowerCase() + "> " + (t.currentSrc || t.src || t.href));
    } else {
      errors.push("uncaught: " + e.message);
    }
  }, true);
  window.addEventListener("load", function () {
    var broken = [];
    for (var i = 0; i < document.images.length; i++) {
      var img = document.images[i];
      if (!img.complete || img.naturalWidth === 0) broken.push(img.getAttribute("src"));
    }
    var top = function (sel) {
      var el = document.querySelector(sel);
      return el ? Math.round(el.getBoundingClientRect().top + window.scrollY) : null;
    };
    var out = document.createElement("pre");
    out.id = "pfntrack-probe";
    out.textContent = JSON.stringify({
      images: document.images.length,
      broken: broken,
      errors: errors,
      width: window.innerWidth,
      scroll_width: document.documentElement.scrollWidth,
      first_trend_top: top('figure[id^="trend-"]'),
      verdict_top: top("table.verdict"),
      height: document.documentElement.scrollHeight
    });
    document.body.appendChild(out);
  });
})();
</script>"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Whether Chromium is there; says SKIPPED (or fails, when required)
/// when not.
fn chromium_present(test: &str) -> bool {
    if Path::new(CHROMIUM).is_file() {
        return true;
    }
    let why =
        format!("{CHROMIUM} is missing (scripts/install-chromium.sh installs Debian's chromium)");
    if std::env::var("PFNTRACK_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("{test}: {why}, and PFNTRACK_REQUIRE_BROWSER=1");
    }
    eprintln!("\n******** SKIPPED: {test}: {why} ********\n");
    false
}

/// A fresh scratch directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("browser-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run Chromium headless on `url` with `extra` flags and a fresh profile;
/// its stdout and stderr.
fn chromium(url: &str, width: u32, height: u32, extra: &[String]) -> (String, String) {
    let profile = scratch("profile");
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed on {url}: {stderr}");
    (stdout, stderr)
}

/// What the probe found on one page at one width.
#[derive(Debug)]
struct Probe {
    images: u64,
    broken: Vec<String>,
    errors: Vec<String>,
    console: Vec<String>,
    width: u64,
    scroll_width: u64,
    first_trend_top: Option<u64>,
    verdict_top: Option<u64>,
    height: u64,
}

impl Probe {
    fn problems(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .broken
            .iter()
            .map(|b| format!("image did not load: {b}"))
            .collect();
        p.extend(self.errors.iter().cloned());
        p.extend(self.console.iter().map(|c| format!("console: {c}")));
        p
    }
}

/// Load `page` (with the probe) at `width` px and read the probe back.
fn probe(page: &Path, width: u32) -> Probe {
    let html = fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let at = html.find("<head>").map_or(0, |i| i + "<head>".len());
    let probed = page.with_extension("probe.html");
    fs::write(&probed, format!("{}{PROBE}{}", &html[..at], &html[at..])).unwrap();
    let url = format!("file://{}", probed.display());
    let (dom, stderr) = chromium(
        &url,
        width,
        900,
        &[
            "--virtual-time-budget=30000".to_string(),
            "--dump-dom".to_string(),
        ],
    );
    let _ = fs::remove_file(&probed);
    let start = dom.find("<pre id=\"pfntrack-probe\">").unwrap_or_else(|| {
        panic!(
            "{}: the probe never reported (no load event?)",
            page.display()
        )
    }) + "<pre id=\"pfntrack-probe\">".len();
    let end = start + dom[start..].find("</pre>").expect("probe element closes");
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let v: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("probe output {json}: {e}"));
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("{k} in {json}"))
            .iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Chromium logs every console message as `...:CONSOLE...] "text", source: ...`.
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Probe {
        images: v["images"].as_u64().expect("images"),
        broken: strings("broken"),
        errors: strings("errors"),
        console,
        width: v["width"].as_u64().expect("width"),
        scroll_width: v["scroll_width"].as_u64().expect("scroll_width"),
        first_trend_top: v["first_trend_top"].as_u64(),
        verdict_top: v["verdict_top"].as_u64(),
        height: v["height"].as_u64().expect("height"),
    }
}

/// Screenshot the top of `page` at `width` px into the artifacts.
fn screenshot(page: &Path, width: u32, name: &str) -> PathBuf {
    let path = artifacts().join(format!("{name}-{width}px.png"));
    let _ = fs::remove_file(&path);
    chromium(
        &format!("file://{}", page.display()),
        width,
        2400,
        &[format!("--screenshot={}", path.display())],
    );
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG"), "{}: a PNG", path.display());
    path
}

/// `pfntrack chart ARGS --out DIR`, the way a user runs it.
fn chart(args: &[&str], out: &Path) -> PathBuf {
    let status = Command::new(env!("CARGO_BIN_EXE_pfntrack"))
        .current_dir(root())
        .arg("chart")
        .args(args)
        .arg("--out")
        .arg(out)
        .status()
        .expect("run pfntrack chart");
    assert!(status.success(), "pfntrack chart {args:?} failed");
    out.join("index.html")
}

#[test]
fn probe_fails_a_page_with_a_broken_image_or_a_console_error() {
    if !chromium_present("probe_fails_a_page_with_a_broken_image_or_a_console_error") {
        return;
    }
    let dir = scratch("broken");
    fs::write(
        dir.join("fine.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">\
         <rect width=\"10\" height=\"10\"/></svg>",
    )
    .unwrap();
    let page = |name: &str, body: &str| {
        let p = dir.join(name);
        fs::write(
            &p,
            format!(
                "<!DOCTYPE html>\n<html><head><title>t</title></head><body>{body}</body></html>\n"
            ),
        )
        .unwrap();
        p
    };
    let good = probe(&page("good.html", "<img src=\"fine.svg\">"), 500);
    assert_eq!(good.images, 1);
    assert!(good.problems().is_empty(), "{good:?}");

    let broken = probe(
        &page(
            "broken.html",
            "<img src=\"fine.svg\"><img src=\"missing.svg\">",
        ),
        500,
    );
    assert_eq!(broken.broken, ["missing.svg"], "{broken:?}");
    assert!(
        broken.errors.iter().any(|e| e.contains("missing.svg")),
        "{broken:?}"
    );

    let noisy = probe(
        &page("noisy.html", "<script>console.error('deliberate')</script>"),
        500,
    );
    assert!(!noisy.problems().is_empty(), "{noisy:?}");
    assert!(
        noisy.console.iter().any(|c| c.contains("deliberate")),
        "{noisy:?}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn chart_pages_load_cleanly_and_lead_with_what_matters() {
    if !chromium_present("chart_pages_load_cleanly_and_lead_with_what_matters") {
        return;
    }
    let dir = scratch("pages");
    // A fresh full run (verdict and per-run charts), the committed
    // history (summaries: trends), and its trend-only page.
    let status = Command::new(env!("CARGO_BIN_EXE_pfntrack"))
        .current_dir(root())
        .args(["run", "--quick", "--repeat", "2", "--out"])
        .arg(dir.join("results"))
        .status()
        .expect("run pfntrack run");
    assert!(status.success(), "pfntrack run --quick failed");
    let results = dir.join("results/results.json");
    let run = chart(&[results.to_str().unwrap()], &dir.join("run"));
    let history = chart(&["bench-results/history"], &dir.join("history"));
    let trends = chart(
        &["bench-results/history", "--kind", "trend"],
        &dir.join("trends"),
    );
    let mut report = String::new();
    for (name, page) in [("run", &run), ("history", &history), ("trends", &trends)] {
        for width in [1400, 500] {
            let p = probe(page, width);
            assert!(
                p.problems().is_empty(),
                "{name} at {width} px: {:#?}",
                p.problems()
            );
            assert!(p.images > 1, "{name}: charts are embedded");
            assert_eq!(p.width, u64::from(width), "{name}: the viewport");
            // The narrow layout scales the charts: nothing wider than the
            // screen (wide tables scroll in their own box).
            assert!(
                p.scroll_width <= u64::from(width),
                "{name} at {width} px scrolls sideways: {}",
                p.scroll_width
            );
            if name == "run" {
                // A full run opens with its verdict, above every chart.
                let v = p.verdict_top.expect("a verdict table");
                assert!(v * 4 < p.height, "{name}: verdict at {v} of {}", p.height);
            } else {
                // The trends lead: the first is within the first screens,
                // not after a scenario's worth of charts.
                let trend = p.first_trend_top.expect("a trend chart");
                assert!(
                    trend * 10 < p.height,
                    "{name} at {width} px: trend at {trend} of {}",
                    p.height
                );
            }
            report.push_str(&format!(
                "{name} ({}), {width} px wide: {} images, none broken, no console message; \
                 verdict table at {} px, first trend chart at {} px \
                 (getBoundingClientRect().top + scrollY), page {} px tall\n",
                page.display(),
                p.images,
                p.verdict_top.map_or("-".to_string(), |v| v.to_string()),
                p.first_trend_top.map_or("-".to_string(), |v| v.to_string()),
                p.height
            ));
            let shot = screenshot(page, width, name);
            report.push_str(&format!("  screenshot: {}\n", shot.display()));
        }
    }
    let summary = artifacts().join("checks.txt");
    fs::write(&summary, &report).unwrap();
    eprint!("{report}");
    let _ = fs::remove_dir_all(&dir);
}
