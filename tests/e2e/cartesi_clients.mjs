// Runs Cartesi's own JavaScript clients against a Rollups v2 node: @cartesi/viem 2.0.0-alpha.29 and
// alpha.31 (npm aliases cartesi-viem-29 / cartesi-viem-31) and @cartesi/rpc (the direct dependency and the
// release alpha.29 pins). Every method is taken from the package's own type declarations (dist/*.d.ts), so
// a method the script has no call for is reported, not silently left out.
//
// Usage: node tests/e2e/cartesi_clients.mjs --reader URL --rpc URL --app ADDRESS --token ADDRESS
//          --withdraw-payload HEX --withdraw-amount WEI [--report-payload HEX]   (key: CARTESI_PRIVATE_KEY)
// The withdraw payload is the dApp's own `withdraw(token, amount)` input: deposit then withdraw makes a
// voucher, which each @cartesi/viem release validates and executes with the proof from the reader.
// Prints one JSON line per call: {client, method, ok, error} (plus `skipped` when a call cannot be made
// here).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createWalletClient, erc20Abi, http, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const NOT_FOUND = -32001;
const ZERO_HASH = `0x${"00".repeat(32)}`;
const NOBODY = "0x000000000000000000000000000000000000dEaD";
const VOUCHER_ACTIONS = ["validateOutput", "estimateExecuteOutputGas", "executeOutput"]; // run last

const { values: opts } = parseArgs({
  options: {
    reader: { type: "string", default: process.env.CARTESI_READER_URL },
    rpc: { type: "string", default: process.env.CARTESI_RPC_URL },
    app: { type: "string", default: process.env.CARTESI_APP },
    token: { type: "string", default: process.env.CARTESI_TOKEN },
    "withdraw-payload": { type: "string", default: process.env.CARTESI_WITHDRAW_PAYLOAD },
    "withdraw-amount": { type: "string", default: process.env.CARTESI_WITHDRAW_AMOUNT },
    "report-payload": { type: "string", default: "0x00" },
    "proof-timeout": { type: "string", default: "30" },
  },
});
for (const name of ["reader", "rpc", "app", "token", "withdraw-payload", "withdraw-amount"]) {
  if (!opts[name]) throw new Error(`--${name} is required`);
}
const key = process.env.CARTESI_PRIVATE_KEY;
if (!key) throw new Error("CARTESI_PRIVATE_KEY is required");
const app = opts.app;
const amount = BigInt(opts["withdraw-amount"]);

// ---- the packages, found on disk so each client's own copy of its dependencies is the one exercised ----
// Node's own lookup: node_modules/<name> in `from` or the nearest folder above it that has one.
function packageDir(name, from = dirname(fileURLToPath(import.meta.url))) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) throw new Error(`${name} is not installed (npm ci)`);
  }
}
const viemDirs = { "viem-29": packageDir("cartesi-viem-29"), "viem-31": packageDir("cartesi-viem-31") };
const rpcDirs = {
  [`rpc-${version(packageDir("@cartesi/rpc"))}`]: packageDir("@cartesi/rpc"),
  [`rpc-${version(rpcDirFor(viemDirs["viem-29"]))}`]: rpcDirFor(viemDirs["viem-29"]),
};

function version(dir) {
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version.replace("2.0.0-alpha.", "");
}
function rpcDirFor(viemDir) {
  return packageDir("@cartesi/rpc", viemDir);
}
const load = (dir, file) => import(pathToFileURL(join(dir, "dist", file)).href);

// ---- type declarations: method lists and the fields each answer must carry ----
function block(text, header) {
  const start = text.indexOf(header);
  if (start < 0) return null;
  const end = text.indexOf("\n};", start);
  return text.slice(start + header.length, end);
}
function keysOf(body, indent = "    ") {
  const keys = [];
  for (const line of body.split("\n")) {
    const m = line.match(new RegExp(`^${indent}(\\w+)(\\??):`));
    if (m) keys.push(m[1]);
  }
  return keys;
}
function viemMethods(dir) {
  const dist = join(dir, "dist");
  const chunk = readdirSync(dist).find((f) => /^index-.*\.d\.ts$/.test(f));
  const l2 = keysOf(block(readFileSync(join(dist, chunk), "utf8"), "type PublicActionsL2 = {"));
  const index = readFileSync(join(dist, "index.d.ts"), "utf8");
  const l1 = keysOf(block(index, "type PublicActionsL1<").split("= {").slice(1).join("= {"));
  const wallet = keysOf(block(index, "type WalletActionsL1<").split("= {").slice(1).join("= {"));
  return { l2, l1, wallet };
}

// Required fields per type of @cartesi/rpc (top level, and one level down for inline and named objects).
function rpcTypes(dir) {
  const text = readFileSync(join(dir, "dist", "index.d.ts"), "utf8");
  const methods = block(text, "type Methods = {").split("\n")
    .map((l) => l.match(/^\s+(\w+)\(/)?.[1]).filter(Boolean);
  const shape = (name) => {
    const body = block(text, `type ${name} = {`);
    if (body === null) return null;
    const fields = {};
    const lines = body.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const m = lines[i].match(/^    (\w+)(\??): (.*)$/);
      if (!m) continue;
      const [, field, optional, rest] = m;
      let nested = null;
      if (rest === "{") {
        const inner = [];
        for (i++; i < lines.length && !lines[i].startsWith("    }"); i++) inner.push(lines[i]);
        nested = keysOf(inner.join("\n"), "        ");
      } else {
        const named = rest.replace(/;$/, "");
        if (/^[A-Z]\w*$/.test(named) && text.includes(`type ${named} = {`))
          nested = Object.keys(shape(named) ?? {});
      }
      if (!optional) fields[field] = nested;
    }
    return fields;
  };
  const answer = (method) => {
    const name = method.replace(/^cartesi_/, "").replace(/^./, (c) => c.toUpperCase());
    const alias = text.match(new RegExp(`type ${name}ReturnType = PaginatedReturnType<(\\w+)>`));
    if (alias) return { list: true, fields: shape(alias[1]) };
    const single = block(text, `type ${name}ReturnType = {`)?.match(/data: (\w+);/)?.[1];
    return { list: false, fields: single ? shape(single) : null };
  };
  return { methods, answer };
}
function missingFields(value, fields) {
  if (!fields || value === null || typeof value !== "object") return [];
  const missing = [];
  for (const [field, nested] of Object.entries(fields)) {
    if (!(field in value)) missing.push(field);
    else if (nested && value[field] !== null && typeof value[field] === "object")
      for (const inner of nested) if (!(inner in value[field])) missing.push(`${field}.${inner}`);
  }
  return missing;
}

// ---- reporting ----
const results = [];
function print(entry) {
  results.push(entry);
  process.stdout.write(`${JSON.stringify(entry)}\n`);
}
function codeOf(error) {
  for (let e = error; e; e = e.cause) if (typeof e.code === "number") return e.code;
  return undefined;
}
function message(error) {
  const code = codeOf(error);
  const text = (error?.shortMessage ?? error?.message ?? String(error)).split("\n")[0];
  return code === undefined ? text : `${code}: ${text}`;
}
// Runs one call; `expect: NOT_FOUND` means the right answer is that error (a get of what does not exist).
async function call(client, method, fn, { expect, check } = {}) {
  try {
    const value = await fn();
    if (expect !== undefined)
      return print({ client, method, ok: false, error: `answered where error ${expect} was due` });
    const problem = check ? await check(value) : null;
    print({ client, method, ok: !problem, error: problem || null });
    return value;
  } catch (error) {
    const ok = expect !== undefined && codeOf(error) === expect;
    const text = message(error);
    print({ client, method, ok, error: ok ? null : text, ...(ok ? { answer: text } : {}) });
    return undefined;
  }
}
function skip(client, method, reason) {
  print({ client, method, ok: false, skipped: reason, error: null });
}
function fail(client, method, error) {
  print({ client, method, ok: false, error });
}
const NO_CALL = "the script has no call for this method";

// ---- raw reader (setup and waiting only; never counted as a client call) ----
async function raw(method, params) {
  const answer = await fetch(opts.reader, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  }).then((r) => r.json());
  if (answer.error) throw new Error(`${method}: ${answer.error.code} ${answer.error.message}`);
  return answer.result;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the chain ----
const account = privateKeyToAccount(key);
const chainId = Number(await fetch(opts.rpc, {
  method: "POST", headers: { "content-type": "application/json" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
}).then((r) => r.json()).then((r) => r.result));
const chain = {
  id: chainId, name: "local", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [opts.rpc] } },
};

// A wallet action's transaction must land and add exactly one input (a deposit to a portal that is not
// deployed on this chain, or addInput to another InputBox, succeeds on chain and adds nothing).
function addsOneInput(viem, wallet, name, addressOf) {
  return async (hash) => {
    const receipt = await wallet.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") return `transaction ${hash} reverted`;
    const added = viem.getInputsAdded(receipt);
    if (added.length === 1) return null;
    const code = await wallet.getCode({ address: addressOf });
    const where = code ? "has code" : "has no code on this chain";
    return `${added.length} InputAdded events (${name} ${addressOf} ${where})`;
  };
}

async function walletActions(label, viem, rollups, methods) {
  const wallet = createWalletClient({ account, chain, transport: http(opts.rpc, { retryCount: 0 }) })
    .extend(publicActions).extend(viem.publicActionsL1()).extend(viem.walletActionsL1());
  const portal = rollups.erc20PortalAddress;
  const approve = await wallet.writeContract({ address: opts.token, abi: erc20Abi, functionName: "approve",
                                              args: [portal, amount * 2n] });
  await wallet.waitForTransactionReceipt({ hash: approve });
  const erc20 = { application: app, token: opts.token, amount: amount * 2n, execLayerData: "0x" };
  const ether = { application: app, value: 1000n, execLayerData: "0x" };
  const withdraw = { application: app, payload: opts["withdraw-payload"] };
  const plan = {
    estimateDepositERC20TokensGas: () =>
      call(label, "estimateDepositERC20TokensGas", () => wallet.estimateDepositERC20TokensGas(erc20)),
    depositERC20Tokens: () => call(label, "depositERC20Tokens", () => wallet.depositERC20Tokens(erc20),
      { check: addsOneInput(viem, wallet, "ERC20Portal", portal) }),
    estimateDepositEtherGas: () =>
      call(label, "estimateDepositEtherGas", () => wallet.estimateDepositEtherGas(ether)),
    depositEther: () => call(label, "depositEther", () => wallet.depositEther(ether),
      { check: addsOneInput(viem, wallet, "EtherPortal", rollups.etherPortalAddress) }),
    estimateAddInputGas: () => call(label, "estimateAddInputGas", () => wallet.estimateAddInputGas(withdraw)),
    addInput: async () => {
      for (const payload of [opts["withdraw-payload"], opts["withdraw-payload"], opts["report-payload"]])
        await call(label, "addInput", () => wallet.addInput({ application: app, payload }),
          { check: addsOneInput(viem, wallet, "InputBox", rollups.inputBoxAddress) });
    },
  };
  for (const name of ["estimateDepositERC721TokenGas", "depositERC721Token",
                      "estimateDepositSingleERC1155TokenGas", "depositSingleERC1155Token",
                      "estimateDepositBatchERC1155TokenGas", "depositBatchERC1155Token"])
    plan[name] = () => skip(label, name, "no ERC-721 / ERC-1155 token is deployed on the local chain");
  const declared = [...methods.l1, ...methods.wallet];
  // In the plan's order: the deposits before the withdraws.
  for (const name of Object.keys(plan)) if (declared.includes(name)) await plan[name]();
  const unplanned = declared.filter((m) => !plan[m] && !VOUCHER_ACTIONS.includes(m));
  for (const name of unplanned) fail(label, name, NO_CALL);
  return wallet;
}

async function waitForVoucherProofs(count) {
  const deadline = Date.now() + Number(opts["proof-timeout"]) * 1000;
  for (;;) {
    const { data } = await raw("cartesi_listOutputs", { application: app, limit: 1000 });
    const vouchers = data.filter((o) => o.decoded_data?.type === "Voucher" && o.output_hashes_siblings
                                        && !o.execution_transaction_hash);
    if (vouchers.length >= count || Date.now() > deadline) return vouchers.map((o) => BigInt(o.index));
    await sleep(200);
  }
}

async function voucherActions(label, viem, wallet, outputIndex) {
  const reader = viem.createCartesiPublicClient({ transport: http(opts.reader, { retryCount: 0 }) });
  const output = await call(label, "getOutput", () => reader.getOutput({ application: app, outputIndex }));
  if (!output) {
    for (const name of VOUCHER_ACTIONS) fail(label, name, "no voucher could be read");
    return;
  }
  await call(label, "validateOutput", () => wallet.validateOutput({ application: app, output }),
    { check: (valid) => (valid === true ? null : "answered false: the proof does not check on chain") });
  await call(label, "estimateExecuteOutputGas",
    () => wallet.estimateExecuteOutputGas({ application: app, output }));
  await call(label, "executeOutput", () => wallet.executeOutput({ application: app, output }), {
    check: async (hash) => {
      const receipt = await wallet.waitForTransactionReceipt({ hash });
      if (receipt.status !== "success") return `transaction ${hash} reverted`;
      const executed = viem.getOutputsExecuted(receipt);
      const done = executed.length === 1 && executed[0].outputIndex === outputIndex;
      return done ? null : "no OutputExecuted event for the voucher";
    },
  });
}

// Reads the node's data once (raw) to pick real indices for the gets.
async function knownIndices() {
  const first = async (method) => (await raw(method, { application: app, limit: 1 })).data[0];
  const epoch = await first("cartesi_listEpochs");
  const input = await first("cartesi_listInputs");
  const output = await first("cartesi_listOutputs");
  const report = await first("cartesi_listReports");
  return {
    epoch: epoch ? BigInt(epoch.index) : 0n, input: input ? BigInt(input.index) : 0n,
    output: output ? BigInt(output.index) : 0n, report: report ? BigInt(report.index) : 0n,
  };
}

async function viemReader(label, viem, methods, at) {
  const reader = viem.createCartesiPublicClient({ transport: http(opts.reader, { retryCount: 0 }) });
  const missing = { expect: NOT_FOUND };
  const none = { application: app, epochIndex: at.epoch, tournamentAddress: NOBODY, idHash: ZERO_HASH };
  const plan = {
    listApplications: () => reader.listApplications(),
    getApplication: () => reader.getApplication({ application: app }),
    listEpochs: () => reader.listEpochs({ application: app }),
    getEpoch: () => reader.getEpoch({ application: app, epochIndex: at.epoch }),
    getLastAcceptedEpochIndex: () => reader.getLastAcceptedEpochIndex({ application: app }),
    listInputs: () => reader.listInputs({ application: app, epochIndex: at.epoch }),
    getInput: () => reader.getInput({ application: app, inputIndex: at.input }),
    waitForInput: () => reader.waitForInput({ application: app, inputIndex: at.input, timeout: 5000 }),
    getProcessedInputCount: () => reader.getProcessedInputCount({ application: app }),
    listOutputs: () => reader.listOutputs({ application: app, outputType: "Voucher" }),
    getOutput: () => reader.getOutput({ application: app, outputIndex: at.output }),
    listReports: () => reader.listReports({ application: app }),
    getReport: () => reader.getReport({ application: app, reportIndex: at.report }),
    getChainId: () => reader.getChainId(),
    getNodeVersion: () => reader.getNodeVersion(),
    listTournaments: () => reader.listTournaments({ application: app }),
    getTournament: [() => reader.getTournament({ application: app, address: NOBODY }), missing],
    listCommitments: () => reader.listCommitments({ application: app }),
    getCommitment: [() => reader.getCommitment({ ...none, commitment: ZERO_HASH }), missing],
    listMatches: () => reader.listMatches({ application: app }),
    getMatch: [() => reader.getMatch(none), missing],
    listMatchAdvances: () => reader.listMatchAdvances(none),
    getMatchAdvanced: [() => reader.getMatchAdvanced({ ...none, parent: ZERO_HASH }), missing],
    listWithdrawals: () => reader.listWithdrawals({ application: app }),
    getWithdrawal: [() => reader.getWithdrawal({ application: app, accountIndex: 0n }), missing],
  };
  for (const name of methods.l2) {
    const entry = plan[name];
    if (!entry) fail(label, name, NO_CALL);
    else if (Array.isArray(entry)) await call(label, name, entry[0], entry[1]);
    else await call(label, name, entry);
  }
}

async function rpcReader(label, rpc, types, at) {
  const client = rpc.createClient({ uri: opts.reader });
  const hex = (n) => `0x${n.toString(16)}`;
  const none = { application: app, epoch_index: hex(at.epoch), tournament_address: NOBODY,
                 id_hash: ZERO_HASH };
  const missing = new Set(["cartesi_getTournament", "cartesi_getCommitment", "cartesi_getMatch",
                           "cartesi_getMatchAdvanced", "cartesi_getWithdrawal"]);
  const params = {
    cartesi_listApplications: {}, cartesi_getApplication: { application: app },
    cartesi_listEpochs: { application: app },
    cartesi_getEpoch: { application: app, epoch_index: hex(at.epoch) },
    cartesi_getLastAcceptedEpochIndex: { application: app },
    cartesi_listInputs: { application: app },
    cartesi_getInput: { application: app, input_index: hex(at.input) },
    cartesi_getProcessedInputCount: { application: app },
    cartesi_listOutputs: { application: app },
    cartesi_getOutput: { application: app, output_index: hex(at.output) },
    cartesi_listReports: { application: app },
    cartesi_getReport: { application: app, report_index: hex(at.report) },
    cartesi_getChainId: undefined, cartesi_getNodeVersion: undefined,
    cartesi_listTournaments: { application: app },
    cartesi_getTournament: { application: app, address: NOBODY },
    cartesi_listCommitments: { application: app }, cartesi_getCommitment: { ...none, commitment: ZERO_HASH },
    cartesi_listMatches: { application: app }, cartesi_getMatch: none,
    cartesi_listMatchAdvances: none, cartesi_getMatchAdvanced: { ...none, parent: ZERO_HASH },
    cartesi_listWithdrawals: { application: app },
    cartesi_getWithdrawal: { application: app, account_index: "0x0" },
  };
  for (const method of types.methods) {
    if (!(method in params)) {
      fail(label, method, NO_CALL);
      continue;
    }
    const { list, fields } = types.answer(method);
    const check = (answer) => {
      if (!answer || !("data" in answer)) return "no `data` in the answer";
      if (list && !answer.pagination) return "no `pagination` in the answer";
      const items = list ? answer.data : [answer.data];
      const gaps = [...new Set(items.flatMap((item) => missingFields(item, fields)))];
      return gaps.length ? `fields the client's types require are missing: ${gaps.join(", ")}` : null;
    };
    await call(label, method, () => client.request(method, params[method]),
      missing.has(method) ? { expect: NOT_FOUND } : { check });
  }
}

// ---- the run ----
const clients = {};
for (const [label, dir] of Object.entries(viemDirs))
  clients[label] = { viem: await load(dir, "index.js"), rollups: await load(dir, "rollups.js"),
                     methods: viemMethods(dir) };

for (const [label, { viem, rollups, methods }] of Object.entries(clients)) {
  clients[label].wallet = await walletActions(label, viem, rollups, methods);
}
const vouchers = await waitForVoucherProofs(Object.keys(clients).length);
const at = await knownIndices();
for (const [label, { viem, methods }] of Object.entries(clients)) await viemReader(label, viem, methods, at);
for (const [label, dir] of Object.entries(rpcDirs))
  await rpcReader(label, await load(dir, "index.js"), rpcTypes(dir), at);
for (const [label, { viem, wallet }] of Object.entries(clients)) {
  const index = vouchers.shift();
  if (index === undefined) {
    for (const name of VOUCHER_ACTIONS) fail(label, name, "no proven voucher (the withdraw input made none)");
  } else await voucherActions(label, viem, wallet, index);
}
const failed = results.filter((r) => !r.ok && !r.skipped).length;
const skipped = results.filter((r) => r.skipped).length;
process.stderr.write(`${results.length} calls, ${failed} failed, ${skipped} skipped\n`);
