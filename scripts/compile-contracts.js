#!/usr/bin/env node
// Compiles contracts/src with npm solc (standard JSON) and writes:
//   contracts/abi/<Name>.json       the ABI (committed: the protocol's source of truth for clients)
//   contracts/build/<Name>.json     {abi, bytecode} for contracts the local node deploys (not committed)
// Usage: node scripts/compile-contracts.js [--check]   (--check: fail if contracts/abi is stale)
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
const srcDir = path.join(root, "contracts", "src");
const abiDir = path.join(root, "contracts", "abi");
const buildDir = path.join(root, "contracts", "build");
const check = process.argv.includes("--check");

const sources = {};
for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(srcDir, f), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.methodIdentifiers"] } },
  },
};
function findImports(p) {
  const candidate = path.join(root, "node_modules", p);
  if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  return { error: `not found: ${p}` };
}
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
fs.mkdirSync(abiDir, { recursive: true });
fs.mkdirSync(buildDir, { recursive: true });
let stale = [];
for (const file of Object.keys(sources)) {
  for (const [name, c] of Object.entries(out.contracts[file])) {
    const abiText = JSON.stringify(c.abi, null, 2) + "\n";
    const abiPath = path.join(abiDir, `${name}.json`);
    if (check) {
      if (!fs.existsSync(abiPath) || fs.readFileSync(abiPath, "utf8") !== abiText) stale.push(abiPath);
    } else {
      fs.writeFileSync(abiPath, abiText);
    }
    if (c.evm.bytecode.object) {
      fs.writeFileSync(
        path.join(buildDir, `${name}.json`),
        JSON.stringify({ abi: c.abi, bytecode: "0x" + c.evm.bytecode.object }) + "\n"
      );
    }
  }
}
if (stale.length) {
  console.error("stale ABI (run: make abi):\n  " + stale.join("\n  "));
  process.exit(1);
}
console.log(`solc ${solc.version()}: ${check ? "ABI up to date" : "wrote contracts/abi"}`);
