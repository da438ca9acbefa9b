// The submission pages (commit before content). Loaded after console.js, whose api(), showError() and
// sleep() it uses. The progress page asks the console for one step at a time (commit, a chunk, the
// reveal) and shows each; a reload continues from the console's state file.
"use strict";

function initSubmissionProgress() {
  const box = document.querySelector("[data-submission]");
  if (!box) return;
  const fallback = document.querySelector("[data-run-all]");
  if (fallback) fallback.hidden = true;
  const status = box.querySelector("[data-submission-status]");
  const mark = (stage, text) => {
    const item = box.querySelector(`[data-stage="${stage}"] [data-stage-status]`);
    if (item) item.textContent = text;
  };
  (async () => {
    for (;;) {
      status.textContent = "working…";
      const answer = await api(box.dataset.stepUrl);
      if (answer.upload) {
        mark(answer.upload.role, answer.message);
        const bar = box.querySelector(`[data-stage="${answer.upload.role}"] progress`);
        bar.hidden = false; bar.max = Math.max(1, answer.upload.total_chunks); bar.value = answer.upload.done_chunks;
      } else if (answer.done) {
        mark("reveal", answer.message);
        status.textContent = "done: opening the outcome…";
        location.href = answer.url;
        return;
      } else if (answer.stage === "committed") {
        mark("commit", answer.message);
      } else if (answer.stage === "uploaded") {
        box.querySelectorAll("progress").forEach((bar) => { bar.value = bar.max; });
      }
      await sleep(50);
    }
  })().catch((err) => {
    if (err.data && err.data.url) { location.href = err.data.url; return; }  // a refused input: its outcome
    status.textContent = "";
    showError(`${err.message || err} (reload the page or press Resume on the submit page to continue)`);
  });
}

// The model's file/CID field only for "a model file or CID"; the builder handles itself (console.js).
function initSubmitForm() {
  const form = document.querySelector("[data-submit-form]");
  if (!form) return;
  const field = form.querySelector('[data-staged="model_cid"]');
  const sync = () => {
    const chosen = form.querySelector('input[name="source"]:checked');
    field.hidden = !chosen || chosen.value !== "cid";
  };
  form.querySelectorAll('input[name="source"]').forEach((radio) => radio.addEventListener("change", sync));
  sync();
  form.addEventListener("submit", () => { const b = form.querySelector("[data-submit]"); if (b) b.disabled = true; });
}

document.addEventListener("DOMContentLoaded", () => {
  initSubmissionProgress();
  initSubmitForm();
});
