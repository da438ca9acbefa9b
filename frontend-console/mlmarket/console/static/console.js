// The console's page scripts: wallet (EIP-1193), chunked uploads with progress and resume, the model
// builder, the create form's policy fields. No framework, no CDN; every POST carries the CSRF token.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function showError(message) {
  const box = document.querySelector("[data-js-error]");
  if (box) { box.textContent = message; box.hidden = false; box.scrollIntoView({block: "nearest"}); }
}

async function api(path, {json, form, method = "POST"} = {}) {
  const options = {method, headers: {"X-CSRF-Token": csrf(), "Accept": "application/json"}};
  if (json !== undefined) { options.body = JSON.stringify(json); options.headers["Content-Type"] = "application/json"; }
  if (form !== undefined) { options.body = form; }
  const response = await fetch(path, options);
  let data;
  try { data = await response.json(); } catch (e) { throw new Error(`the console answered HTTP ${response.status}`); }
  if (!response.ok || data.ok === false) { const err = new Error(data.error || `HTTP ${response.status}`); err.data = data; throw err; }
  return data;
}

// ---- wallet (EIP-1193 window.ethereum) -------------------------------------------------------
function wallet() {
  if (!window.ethereum) throw new Error("no browser wallet found (window.ethereum): install one, or use a dev account on a local node");
  return window.ethereum;
}

async function connectWallet() {
  const accounts = await wallet().request({method: "eth_requestAccounts"});
  if (!accounts || !accounts.length) throw new Error("the wallet gave no account");
  const answer = await api("/api/wallet/account", {json: {address: accounts[0]}});
  const chain = parseInt(await wallet().request({method: "eth_chainId"}), 16);
  if (answer.chain_id && chain !== answer.chain_id) {
    showError(`your wallet is on chain ${chain}, the console on chain ${answer.chain_id}: switch networks in the wallet`);
    return;
  }
  location.reload();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitReceipt(hash) {
  for (let i = 0; i < 600; i++) {
    const receipt = await wallet().request({method: "eth_getTransactionReceipt", params: [hash]});
    if (receipt) {
      if (receipt.status !== "0x1") throw new Error(`transaction ${hash} reverted`);
      return receipt;
    }
    await sleep(500);
  }
  throw new Error(`no receipt for ${hash}`);
}

// Sends the prepared transactions in order (each mined before the next); returns the last hash.
async function sendAll(txs, onEach) {
  let hash = null;
  for (let i = 0; i < txs.length; i++) {
    hash = await wallet().request({method: "eth_sendTransaction", params: [txs[i]]});
    await waitReceipt(hash);
    if (onEach) onEach(i, hash);
  }
  return hash;
}

function initSign() {
  const box = document.querySelector("[data-sign]");
  if (!box) return;
  const status = box.querySelector("[data-sign-status]");
  const marks = box.querySelectorAll("[data-tx-status]");
  box.querySelector("[data-sign-button]").addEventListener("click", async (event) => {
    event.target.disabled = true;
    try {
      status.textContent = "waiting for the wallet…";
      const hash = await sendAll(JSON.parse(box.dataset.txs), (i, h) => { marks[i].textContent = `sent ${h}`; });
      if (box.dataset.kind === "input") {
        status.textContent = "waiting for the node to process the input…";
        const answer = await api("/api/wallet/confirm", {json: {tx_hash: hash, receipt: box.dataset.receipt}});
        location.href = answer.url.includes("?") ? answer.url : `${answer.url}?back=${encodeURIComponent(box.dataset.back)}`;
      } else {
        location.href = box.dataset.back;
      }
    } catch (err) {
      status.textContent = "";
      showError(err.message || String(err));
      event.target.disabled = false;
    }
  });
}

// ---- uploads ------------------------------------------------------------------------------------
const RESUME_KEY = "mlmarket-uploads";
const remembered = () => JSON.parse(localStorage.getItem(RESUME_KEY) || "{}");
function remember(cid, field) { const all = remembered(); all[cid] = field; localStorage.setItem(RESUME_KEY, JSON.stringify(all)); }
function forget(cid) { const all = remembered(); delete all[cid]; localStorage.setItem(RESUME_KEY, JSON.stringify(all)); }

function showProgress(widget, p) {
  const bar = widget.querySelector("[data-upload-progress]");
  const label = widget.querySelector("[data-upload-status]");
  bar.hidden = false;
  bar.max = Math.max(1, p.total_chunks);
  bar.value = p.stored ? bar.max : p.done_chunks;
  label.textContent = p.stored ? `stored: ${p.cid}` : `uploading: ${p.done_chunks}/${p.total_chunks} chunks (${p.received} of ${p.size} bytes)`;
  label.dataset.done = p.done_chunks; label.dataset.total = p.total_chunks;
}

let uploadsRunning = 0;

// Drives the upload of a staged file chunk by chunk until the dApp stores it.
async function drive(widget, progress) {
  uploadsRunning++;
  try {
    const field = widget.dataset.upload;
    remember(progress.cid, field);
    showProgress(widget, progress);
    let p = progress;
    while (!p.stored) {
      p = await api(`/api/uploads/${p.cid}/next`);
      if (p.txs) {
        const hash = await sendAll(p.txs);
        await api("/api/wallet/confirm", {json: {tx_hash: hash, wait: true}});  // throws if the chunk was refused
        p = {...p, done_chunks: p.done_chunks + 1};
      }
      showProgress(widget, p);
    }
    widget.querySelector("[data-upload-cid]").value = p.cid;
    forget(p.cid);
    return p.cid;
  } finally {
    uploadsRunning--;
  }
}

async function startUpload(widget, file) {
  const cidInput = widget.querySelector("[data-upload-cid]");
  const fileInput = widget.querySelector("[data-upload-file]");
  const form = new FormData();
  form.append("file", file);
  if (widget.hasAttribute("data-hash-only")) {
    const answer = await api("/api/cid", {form});
    cidInput.value = answer.cid;
    widget.querySelector("[data-upload-status]").textContent = `CID ${answer.cid} (${answer.size} bytes, not uploaded)`;
  } else {
    widget.querySelector("[data-upload-status]").textContent = "sending the file to the console…";
    await drive(widget, await api("/api/uploads", {form}));
  }
  fileInput.value = "";
}

function initUploads() {
  document.querySelectorAll("[data-upload]").forEach((widget) => {
    widget.querySelector("[data-upload-file]").addEventListener("change", (event) => {
      const file = event.target.files[0];
      if (file) startUpload(widget, file).catch((err) => showError(`upload: ${err.message}`));
    });
  });
  const section = document.querySelector("[data-pending-uploads]");
  if (!section || !document.querySelector("[data-upload]")) return;
  api("/api/uploads/pending", {method: "GET"}).then((answer) => {
    const list = section.querySelector("ul");
    answer.uploads.forEach((u) => {
      const item = document.createElement("li");
      const field = remembered()[u.cid];
      const widget = field && document.querySelector(`[data-upload="${CSS.escape(field)}"]`);
      item.textContent = `${u.cid}: ${u.received} of ${u.size} bytes` + (u.resumable ? ` (${u.done_chunks}/${u.total_chunks} chunks) ` : " (choose the file again to resume) ");
      if (u.resumable && widget) {
        const button = document.createElement("button");
        button.type = "button"; button.textContent = "Resume"; button.dataset.resume = u.cid;
        button.addEventListener("click", () => {
          button.disabled = true;
          drive(widget, u).then(() => item.remove()).catch((err) => { button.disabled = false; showError(`upload: ${err.message}`); });
        });
        item.append(button);
      }
      list.append(item);
    });
    section.hidden = answer.uploads.length === 0;
  }).catch(() => {});
}

// ---- model builder and form sections ------------------------------------------------------------
function initBuilders() {
  document.querySelectorAll("[data-model-builder]").forEach((builder) => {
    const select = builder.querySelector("[data-estimator-select]");
    const sync = () => builder.querySelectorAll("[data-estimator]").forEach((set) => {
      const on = set.dataset.estimator === select.value;
      set.hidden = !on; set.disabled = !on;   // disabled fieldsets are not submitted
    });
    select.addEventListener("change", sync);
    // Offer only the estimators of the job's task (create: the task chosen; submit: the job's).
    const taskSource = builder.closest("form").querySelector("[data-task-select], select[name=job]");
    const filterTask = () => {
      const option = taskSource && (taskSource.selectedOptions[0] || null);
      const task = option ? (option.dataset.task || option.value) : "";
      select.querySelectorAll("option").forEach((o) => { o.hidden = Boolean(task) && o.dataset.task !== task; });
      if (select.selectedOptions[0] && select.selectedOptions[0].hidden) {
        const first = select.querySelector("option:not([hidden])");
        if (first) select.value = first.value;
      }
      sync();
    };
    if (taskSource) taskSource.addEventListener("change", filterTask);
    filterTask();
    // Show the builder only for "from the catalogue", the file/CID field only for "a model file or CID".
    const prefix = builder.dataset.modelBuilder;
    const form = builder.closest("form");
    const widget = form.querySelector(`[data-upload="${prefix ? "base_model_cid" : "model_cid"}"]`);
    const radios = form.querySelectorAll(`input[name="${prefix}source"]`);
    const showSource = () => {
      const chosen = form.querySelector(`input[name="${prefix}source"]:checked`);
      builder.hidden = !chosen || chosen.value !== "compose";
      if (widget) widget.hidden = !chosen || chosen.value !== "cid";
    };
    radios.forEach((radio) => radio.addEventListener("change", showSource));
    showSource();
  });
}

function initCreateForm() {
  const form = document.querySelector("[data-create-form]");
  if (!form) return;
  const policy = form.querySelector("[data-policy-select]");
  const task = form.querySelector("[data-task-select]");
  const metric = form.querySelector("[data-metric-select]");
  const reward = form.querySelector("[data-reward-select]");
  const sync = () => {
    form.querySelectorAll("[data-policies]").forEach((el) => {
      const on = el.dataset.policies.split(" ").includes(policy.value);
      el.hidden = !on;
      if (el.tagName === "OPTION") el.disabled = !on;
      el.querySelectorAll("input, select").forEach((input) => { input.disabled = !on; });
    });
    // The reward rules of the chosen policy only; the count a rule needs only with that rule.
    if (reward) {
      if (reward.selectedOptions[0] && reward.selectedOptions[0].hidden) {
        reward.selectedIndex = [...reward.options].findIndex((o) => !o.hidden);
      }
      form.querySelectorAll("[data-rewards]").forEach((el) => {
        const on = el.dataset.rewards.split(" ").includes(reward.value);
        el.hidden = !on;
        el.querySelectorAll("input").forEach((input) => { input.disabled = !on; });
      });
    }
    metric.querySelectorAll("option").forEach((o) => { o.hidden = o.dataset.task !== task.value; });
    if (metric.selectedOptions[0] && metric.selectedOptions[0].hidden) {
      metric.value = metric.querySelector(`option[data-task="${task.value}"]`).value;
    }
  };
  policy.addEventListener("change", sync);
  task.addEventListener("change", sync);
  if (reward) reward.addEventListener("change", sync);
  sync();
}

// Before a form with uploads is sent: wait for running uploads, upload a composed model first.
function initUploadForms() {
  document.querySelectorAll("[data-upload-form]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("[data-submit]") || form.querySelector("button");
      try {
        if (button) button.disabled = true;
        while (uploadsRunning > 0) await sleep(200);
        for (const builder of form.querySelectorAll("[data-model-builder]")) {
          const prefix = builder.dataset.modelBuilder;
          const source = form.querySelector(`input[name="${prefix}source"]:checked`);
          const widget = form.querySelector(`[data-upload="${prefix ? "base_model_cid" : "model_cid"}"]`);
          if (source && source.value === "compose" && widget && !widget.querySelector("[data-upload-cid]").value) {
            const fields = new FormData();
            fields.append("prefix", prefix);
            for (const [key, value] of new FormData(form)) {
              if (key.startsWith(prefix) && typeof value === "string") fields.append(key, value);
            }
            await drive(widget, await api("/api/models", {form: fields}));
          }
        }
        form.submit();  // does not fire "submit" again
      } catch (err) {
        showError(err.message || String(err));
        if (button) button.disabled = false;
      }
    });
  });
}

// The ERC-20 address box shows only when "an ERC-20 address" is chosen.
function initTokenSelects() {
  document.querySelectorAll("[data-token-select]").forEach((select) => {
    const box = select.parentElement.querySelector("[data-token-address]");
    if (!box) return;
    const sync = () => { box.hidden = select.value !== "custom"; };
    select.addEventListener("change", sync);
    sync();
  });
}

function initAccount() {
  const select = document.querySelector("[data-autosubmit]");
  if (select) select.addEventListener("change", () => select.form.submit());
  const button = document.querySelector("[data-connect-wallet]");
  if (button) button.addEventListener("click", () => connectWallet().catch((err) => showError(err.message || String(err))));
}

document.addEventListener("DOMContentLoaded", () => {
  initAccount();
  initSign();
  initBuilders();
  initCreateForm();
  initUploads();
  initUploadForms();
  initTokenSelects();
});
