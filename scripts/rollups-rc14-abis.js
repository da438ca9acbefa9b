// Writes devnode/abis/rollups-2.0.0-rc.14.json: the ABIs of Application and Authority as deployed by
// npm @cartesi/rollups@2.0.0-rc.14 (cartesi-rollups-2rc14). Its export/artifacts are a newer build than
// its deployments, so the ABIs are compiled (ABI only, solc-js) from the sources recorded in the
// ApplicationFactory / AuthorityFactory deployment records' metadata. Run: node scripts/rollups-rc14-abis.js
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
const records = path.join(root, "node_modules", "cartesi-rollups-2rc14", "deployments", "sepolia");
const target = path.join(root, "devnode", "abis", "rollups-2.0.0-rc.14.json");
const out = {};
for (const [factory, file, name] of [["ApplicationFactory", "contracts/dapp/Application.sol", "Application"],
                                     ["AuthorityFactory", "contracts/consensus/authority/Authority.sol", "Authority"]]) {
  const metadata = JSON.parse(JSON.parse(fs.readFileSync(path.join(records, `${factory}.json`))).metadata);
  const sources = Object.fromEntries(Object.entries(metadata.sources).map(([k, v]) => [k, {content: v.content}]));
  const input = {language: "Solidity", sources, settings: {outputSelection: {[file]: {[name]: ["abi"]}}}};
  const result = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (result.errors || []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  out[name] = result.contracts[file][name].abi;
}
fs.writeFileSync(target, JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${path.relative(root, target)}`);
