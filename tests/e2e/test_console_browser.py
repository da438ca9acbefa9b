"""The web console in Debian's Chromium (Playwright) against a real local node and the real backend.

One node (real anvil, Cartesi v2.2.0 contracts, ``python -m dapp``) and one console server serve the
module. The flows: a sponsor creates a job with an uploaded validation set, a contributor chooses
data, composes a model from the catalogue and submits (commit, upload, reveal: the progress page
steps through them), sees the score and the reward credited to its dApp balance, withdraws it all and
executes that voucher, sees the balance change and flips its payout choice (dev accounts, signed by
the console); a browser wallet (an EIP-1193
provider backed by anvil's unlocked account, the key never on the page) deposits, withdraws,
executes and submits (commit, chunk and reveal transactions in order); an upload cut off mid-way resumes after a reload; a gated job refuses a contributor until
its sponsor grants the access the contributor asked for on the job page. On-chain effects are checked
with web3 directly. Screenshots of each main page go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eth_abi
import numpy as np
import pytest
import requests
from mlmarket.console import create_app
from web3 import Web3
from werkzeug.serving import make_server

from dapp.codec.cid import cid_of, cid_to_text
from devnode.anvil import dev_accounts
from devnode.contracts import abi_of
from devnode.node import Node
from tests.e2e.devnode_harness import address, node_fixture, token_balance

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SPONSOR, CONTRIBUTOR, WALLET_USER, UPLOADER, APPLICANT = 0, 1, 2, 3, 4
REWARD = 10 * 10**18
TIMEOUT_MS = 60_000

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (make installs it: apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


DEV_KEYS = [account.key.hex().removeprefix("0x") for account in dev_accounts(10)]

node = node_fixture(auto_mine=False)


@pytest.fixture(scope="module")
def console_url(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    environ = {"MLMARKET_DEVNODE_DIR": str(node.config.state_dir),
               "MLMARKET_CONSOLE_UPLOAD_DIR": str(tmp_path_factory.mktemp("staged"))}
    server = make_server("127.0.0.1", 0, create_app({"ENVIRON": environ}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = sync_api.sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture()
def page(browser: Any, console_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=console_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        opened = context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda exc: errors.append(str(exc)))
        yield opened
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        context.close()


@pytest.fixture(scope="module")
def symbol(w3: Web3, node: Node) -> str:
    """The test token's ``symbol()``, read from the chain: what amounts in it are shown with."""
    return w3.eth.contract(address=node.info()["addresses"]["Token"], abi=abi_of("TestToken")).functions.symbol().call()


def shot(page: Any, name: str) -> None:
    """Saves a full-page screenshot and checks that no dev account's key is on the page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    html = page.content().lower()
    assert not any(key in html for key in DEV_KEYS), f"a private key appears on {page.url}"


def act_as(page: Any, account: int) -> None:
    page.goto("/jobs")
    with page.expect_navigation():
        page.select_option("#account-select", str(account))
    assert page.locator("[data-acting-address]").inner_text() == address(account)


def upload_into(page: Any, field: str, path: Path) -> str:
    """Chooses ``path`` in the upload widget of ``field``; waits until the dApp stores it."""
    page.set_input_files(f"#{field}_file", str(path))
    expected = cid_to_text(cid_of(path.read_bytes()))
    sync_api.expect(page.locator(f"#{field}")).to_have_value(expected, timeout=TIMEOUT_MS)
    return expected


def test_a_job_is_created_scored_and_paid_through_the_console(page: Any, node: Node, w3: Web3,
                                                              files: dict[str, Path], symbol: str) -> None:
    act_as(page, SPONSOR)
    page.goto("/jobs/new")
    page.fill("#title", "breast cancer (console)")
    page.select_option("#policy", "threshold")
    page.select_option("#metric", "accuracy")
    page.fill("#label", "label")
    page.fill("#min_score", "0.8")
    validation = upload_into(page, "validation_cid", files["valid"])
    assert "stored" in page.locator("[data-upload='validation_cid'] [data-upload-status]").inner_text()
    page.fill("#budget", "30")
    page.fill("#reward_per_accept", "10")
    shot(page, "create-job")
    page.click("[data-submit]")
    page.wait_for_selector("[data-outcome]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    created = page.inner_text("[data-notice='JobCreated']")
    job = int(re.search(r"job (\d+) created", created).group(1))

    act_as(page, CONTRIBUTOR)
    page.goto(f"/submit?job={job}")
    page.select_option("#estimator", "LogisticRegression")
    page.fill("[name='p.LogisticRegression.max_iter']", "1000")
    page.set_input_files("#data_cid_file", str(files["train"]))  # staged by the console, uploaded after the commit
    train = cid_to_text(cid_of(files["train"].read_bytes()))
    shot(page, "submit")
    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"/submissions/0x[0-9a-f]{64}$"))
    page.wait_for_selector("[data-outcome]", timeout=TIMEOUT_MS)  # the progress page opens the reveal's outcome
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    scored = page.inner_text("[data-notice='SubmissionScored']")
    score = float(re.search(r"scored accuracy ([0-9.]+)", scored).group(1))  # in the job's metric
    assert 0.8 <= score <= 1.0 and "(accepted)" in scored
    payout = page.locator("[data-payout]")  # where the reward went: the dApp balance, no voucher
    assert payout.get_attribute("data-payout-route") == "balance"
    assert f"10 {symbol}" in payout.inner_text() and "credited to your dApp balance" in payout.inner_text()
    shot(page, "outcome")

    page.goto(f"/jobs/{job}")
    assert page.inner_text("[data-leaderboard] [data-score]") == f"{score:g}"
    assert page.locator("[data-chart] [data-point]").count() == 1
    assert validation in page.inner_text("main") and train in page.inner_text("[data-submissions]")
    shot(page, "job")
    page.goto("/jobs")
    assert "breast cancer (console)" in page.inner_text(f"[data-job='{job}']")
    shot(page, "jobs")

    before = token_balance(w3, node, address(CONTRIBUTOR))
    token = node.info()["addresses"]["Token"].lower()
    page.goto("/balances")
    assert page.inner_text(f"[data-dapp-balances] [data-token='{token}'] [data-value]") == f"10 {symbol}"
    page.click(f"[data-withdraw-all='{token}'] button")  # all of it: one withdraw, one voucher
    page.wait_for_selector("[data-notice='Withdrawn']")
    assert f"withdrew 10 {symbol}" in page.inner_text("[data-notice='Withdrawn']")
    page.goto("/outputs?vouchers=1")
    row = page.locator("[data-output]").filter(has_text=f"pays 10 {symbol} to {address(CONTRIBUTOR)[:6].lower()}")
    index = row.first.get_attribute("data-output")
    with page.expect_navigation():
        page.click(f"[data-execute='{index}']")
    assert "executed" in page.inner_text(f"[data-output='{index}'] [data-state]")
    shot(page, "outputs")
    assert token_balance(w3, node, address(CONTRIBUTOR)) - before == REWARD

    page.goto("/balances")
    wallet_test = page.inner_text(f"[data-wallet-balances] [data-token='{node.info()['addresses']['Token'].lower()}'] [data-value]")
    assert float(wallet_test.split()[0]) == (before + REWARD) / 10**18
    shot(page, "balances")
    for now in ("voucher", "balance"):  # the payout choice, flipped and back
        page.click("[data-payouts-form] button")
        page.wait_for_selector("[data-outcome]")
        assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
        page.goto("/balances")
        assert page.get_attribute("[data-payout-choice]", "data-payout-choice") == now


WALLET_SHIM = """
window.ethereum = {
  isFakeWallet: true,
  async request({method, params}) {
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [%(address)s];
    const answer = await window.__walletRpc(method, params || []);
    if (answer.error) throw Object.assign(new Error(answer.error.message), {code: answer.error.code});
    return answer.result;
  },
};
"""


def test_a_browser_wallet_deposits_withdraws_executes_uploads_and_submits(page: Any, node: Node, w3: Web3,
                                                                          tmp_path: Path, files: dict[str, Path],
                                                                          symbol: str) -> None:
    user = address(WALLET_USER)
    sent: list[dict[str, Any]] = []

    def wallet_rpc(method: str, params: list[Any]) -> dict[str, Any]:
        if method == "eth_sendTransaction":
            sent.append(params[0])
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return requests.post(node.rpc_url, json=body, timeout=30).json()

    page.context.expose_function("__walletRpc", wallet_rpc)
    page.context.add_init_script(WALLET_SHIM % {"address": json.dumps(user)})
    before = token_balance(w3, node, user)

    page.goto("/balances")
    with page.expect_navigation():
        page.click("[data-connect-wallet]")
    assert page.locator("[data-acting-address]").inner_text() == user
    assert "signed by your wallet" in page.inner_text("footer")

    page.fill("[name='deposit_amount']", "5")
    page.click("[data-deposit-form] button")
    page.wait_for_selector("[data-sign]")
    assert len(json.loads(page.get_attribute("[data-sign]", "data-txs"))) == 2  # approve, then deposit
    shot(page, "wallet-sign")
    page.click("[data-sign-button]")
    page.wait_for_selector("[data-outcome]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok"
    assert f"deposited 5 {symbol}" in page.inner_text("[data-notice='Deposited']")

    page.goto("/balances")
    page.fill("[data-withdraw-form] [name='withdraw_amount']", "2")
    page.click("[data-withdraw-form] button")
    page.click("[data-sign-button]")
    page.wait_for_selector("[data-outcome]")
    assert f"withdrew 2 {symbol}" in page.inner_text("[data-notice='Withdrawn']")

    page.goto("/outputs?vouchers=1")
    row = page.locator("[data-output]").filter(has_text=f"pays 2 {symbol} to {user[:6].lower()}")
    index = row.first.get_attribute("data-output")
    page.click(f"[data-execute='{index}']")
    page.wait_for_selector("[data-sign]")
    with page.expect_navigation(url=re.compile(r"/outputs")):
        page.click("[data-sign-button]")
    assert "executed" in page.inner_text(f"[data-output='{index}'] [data-state]")
    assert token_balance(w3, node, user) == before - 5 * 10**18 + 2 * 10**18

    page.goto("/jobs/new")
    small = tmp_path / "wallet.csv"
    small.write_text("x,label\n1,0\n2,1\n3,0\n")
    upload_into(page, "validation_cid", small)
    assert all(tx["from"].lower() == user.lower() for tx in sent)
    assert len(sent) == 5  # approve, deposit, withdraw, execute, one upload chunk

    page.goto("/submit")  # to the first test's job, with its (stored) training data and a new model
    job = page.locator("#job option", has_text="breast cancer (console)").first.get_attribute("value")
    page.select_option("#job", job)
    page.select_option("#estimator", "LogisticRegression")
    page.fill("[name='p.LogisticRegression.max_iter']", "900")
    page.fill("#data_cid", cid_to_text(cid_of(files["train"].read_bytes())))
    page.click("[data-submit]")
    page.wait_for_selector("[data-sign]")
    txs = json.loads(page.get_attribute("[data-sign]", "data-txs"))
    payloads = [eth_abi.decode(["address", "bytes"], bytes.fromhex(tx["data"][10:]))[1] for tx in txs]  # addInput
    selectors = [payload[:4] for payload in payloads]
    assert selectors == [Web3.keccak(text=f)[:4] for f in (  # the composed model travels inside the reveal
        "commitSubmission(uint256,bytes32)", "revealSubmissionInline(uint256,bytes,bytes,bytes32,bytes,bytes)")]
    shot(page, "wallet-submit")
    page.click("[data-sign-button]")
    page.wait_for_selector("[data-outcome]", timeout=TIMEOUT_MS)
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    assert "(accepted)" in page.inner_text("[data-notice='SubmissionScored']")
    assert len(sent) == 7 and all(tx["from"].lower() == user.lower() for tx in sent)
    page.goto("/submit")
    assert page.locator("[data-kept-submissions]").count() == 0  # revealed: the console forgot the salt


def test_a_hidden_test_set_salt_is_shown_once_and_downloadable(page: Any, tmp_path: Path,
                                                               files: dict[str, Path]) -> None:
    test_set = tmp_path / "hidden.csv"
    test_set.write_text("x,label\n1,0\n2,1\n3,0\n4,1\n")
    act_as(page, SPONSOR)
    page.goto("/jobs/new")
    page.select_option("#policy", "best")
    page.check("[name='hidden_test']")
    page.set_input_files("#test_cid_file", str(test_set))
    expected = cid_to_text(cid_of(test_set.read_bytes()))
    sync_api.expect(page.locator("#test_cid")).to_have_value(expected)
    page.fill("#validation_cid", cid_to_text(cid_of(files["valid"].read_bytes())))  # the backend requires one
    page.fill("#budget", "5")
    page.click("[data-submit]")
    page.wait_for_selector("[data-secret]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    salt = page.inner_text("[data-secret-salt]")
    with page.expect_download() as download:
        page.click("[data-secret-download]")
    saved = json.loads(Path(download.value.path()).read_text())
    assert saved["salt"] == salt and saved["test_cid"] == expected
    shot(page, "hidden-test-salt")
    page.goto("/jobs")
    assert salt not in page.content()


def test_an_upload_cut_off_resumes_after_a_reload(page: Any, node: Node, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = "\n".join(",".join(f"{v:.17g}" for v in rng.random(6)) + f",{i % 2}" for i in range(6000))
    big = tmp_path / "big.csv"
    big.write_text("a,b,c,d,e,f,label\n" + rows + "\n")
    cid = cid_to_text(cid_of(big.read_bytes()))
    act_as(page, UPLOADER)
    calls = {"n": 0}

    def cut_after_two(route: Any) -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            route.abort()
        else:
            route.continue_()

    page.route("**/api/uploads/*/next", cut_after_two)
    page.goto("/jobs/new")
    page.set_input_files("#validation_cid_file", str(big))
    page.wait_for_selector("[data-js-error]:not([hidden])")
    status = page.locator("[data-upload='validation_cid'] [data-upload-status]")
    total = int(status.get_attribute("data-total"))
    assert status.get_attribute("data-done") == "2" and total > 3
    page.unroute("**/api/uploads/*/next")

    page.reload()
    pending = page.locator("[data-pending-uploads]")
    pending.wait_for(state="visible")
    assert f"{cid}" in pending.inner_text() and f"(2/{total} chunks)" in pending.inner_text()
    shot(page, "upload-resume")
    page.click(f"[data-resume='{cid}']")
    sync_api.expect(page.locator("#validation_cid")).to_have_value(cid, timeout=TIMEOUT_MS)
    assert status.get_attribute("data-done") == str(total)
    stored = requests.post(f"{node.info()['inspect_url']}/{node.info()['addresses']['Application']}",
                           data=f"contents/{cid}".encode(), timeout=30).json()
    report = json.loads(bytes.fromhex(stored["reports"][0]["payload"][2:]))
    assert report["ok"] and report["size"] == big.stat().st_size


def submit_composed(page: Any, job: int, data_cid: str) -> str:
    """Submits a LogisticRegression spec with training data ``data_cid`` to ``job``; the outcome's state."""
    page.goto(f"/submit?job={job}")
    page.select_option("#estimator", "LogisticRegression")
    page.fill("[name='p.LogisticRegression.max_iter']", "1000")
    page.fill("#data_cid", data_cid)
    page.click("[data-submit]")
    page.wait_for_selector("[data-outcome], [data-preflight]", timeout=TIMEOUT_MS)  # the reveal's outcome, or refused
    if page.locator("[data-preflight]").count():
        return "refused"
    return page.get_attribute("[data-outcome]", "data-outcome")


def test_a_gated_job_admits_a_contributor_once_the_sponsor_grants_the_request(page: Any, files: dict[str, Path]
                                                                             ) -> None:
    applicant = address(APPLICANT).lower()
    act_as(page, SPONSOR)
    page.goto("/jobs/new")
    page.fill("#title", "gated (console)")
    page.fill("#label", "label")
    page.fill("#min_score", "0.5")
    upload_into(page, "validation_cid", files["valid"])
    page.check("[name='gated']")
    page.fill("#budget", "10")
    page.fill("#reward_per_accept", "10")
    page.click("[data-submit]")
    page.wait_for_selector("[data-outcome]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    job = int(re.search(r"job (\d+) created", page.inner_text("[data-notice='JobCreated']")).group(1))

    act_as(page, APPLICANT)
    page.goto("/jobs/new")
    train = upload_into(page, "validation_cid", files["train"])
    assert submit_composed(page, job, train) == "refused"  # by the pre-flight: nothing sent
    assert page.locator("[data-problem='no_access']").count() == 1, page.inner_text("main")
    page.goto(f"/jobs/{job}")
    page.fill("#public_key", "0x04" + "ab" * 32)
    page.click("[data-access-request]")
    page.wait_for_selector("[data-outcome]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    assert "asks for access" in page.inner_text("[data-notice='AccessRequested']")

    act_as(page, SPONSOR)
    page.goto(f"/jobs/{job}")
    assert page.inner_text(f"[data-member='{applicant}'] [data-member-status]") == "requested"
    assert "(33 bytes)" in page.inner_text(f"[data-member='{applicant}']")
    shot(page, "job-access")
    page.click(f"[data-access-grant='{applicant}']")
    page.wait_for_selector("[data-outcome]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    assert "granted" in page.inner_text("[data-notice='AccessChanged']")

    act_as(page, APPLICANT)
    page.goto(f"/jobs/{job}")
    assert page.locator("[data-access-mine='granted']").count() == 1
    assert page.locator("[data-access-request]").count() == 0
    assert submit_composed(page, job, train) == "ok", page.inner_text("main")
    assert "(accepted)" in page.inner_text("[data-notice='SubmissionScored']")


# ---- issue 15: sent once, money visible, pre-flight, the look at 420 px -----------------------------------

FORM_FIELDS = """(selector) => Object.fromEntries([...new FormData(document.querySelector(selector))]
                                               .filter(([, value]) => typeof value === "string"))"""


def nonce(w3: Web3, account: int) -> int:
    """Transactions ``account`` sent (an ERC-20 deposit may add an approval before its input)."""
    return w3.eth.get_transaction_count(address(account))


def inputs(w3: Web3, node: Node) -> int:
    """Inputs the application received (InputBox.getNumberOfInputs)."""
    box = w3.eth.contract(address=node.info()["addresses"]["InputBox"], abi=abi_of("InputBox"))
    return box.functions.getNumberOfInputs(node.info()["addresses"]["Application"]).call()


def resend(page: Any, action: str, fields: dict[str, str]) -> str:
    """Posts ``fields`` (a form read before it was sent, idempotency key included) again, as a resubmitting
    browser would; answers the URL the console redirected to."""
    response = page.request.post(action, form=fields, max_redirects=0)
    assert response.status == 303, response.text()
    return response.headers["location"]


WIDER = """(limit) => [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > limit
    && ![...e.children].some((c) => c.getBoundingClientRect().right > limit)).slice(0, 5)
    .map((e) => `${e.tagName.toLowerCase()}.${e.className}: ${(e.textContent || e.value || '').trim().slice(0, 60)}`)"""
"""The innermost elements that reach past ``limit`` px (what makes a page too wide)."""


def no_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    limit = page.viewport_size["width"]
    assert width <= limit, f"{page.url} is {width} px wide: {page.evaluate(WIDER, limit)}"


def create_threshold_job(page: Any, title: str, valid_cid: str, budget: str = "20") -> None:
    page.goto("/jobs/new")
    page.fill("#title", title)
    page.fill("#label", "label")
    page.fill("#min_score", "0.8")
    page.fill("#validation_cid", valid_cid)
    page.fill("#budget", budget)
    page.fill("#reward_per_accept", "10")


def test_reload_double_click_and_resubmit_send_one_transaction(page: Any, w3: Web3, node: Node,
                                                               files: dict[str, Path]) -> None:
    valid = cid_to_text(cid_of(files["valid"].read_bytes()))  # stored by the first test
    act_as(page, SPONSOR)
    create_threshold_job(page, "sent once (console)", valid)
    fields = page.evaluate(FORM_FIELDS, "[data-create-form]")
    before, count = nonce(w3, SPONSOR), inputs(w3, node)
    page.dblclick("[data-submit]")
    page.wait_for_selector("[data-outcome]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    outcome = page.url
    page.reload()
    assert page.url == outcome and resend(page, "/jobs/new", fields) in outcome
    assert inputs(w3, node) == count + 1 and nonce(w3, SPONSOR) - before in (1, 2)  # an approval, then the input
    with page.expect_navigation():
        page.click("[data-job-link] a")
    job = int(re.search(r"/jobs/(\d+)$", page.url).group(1))

    act_as(page, CONTRIBUTOR)
    page.goto(f"/submit?job={job}")
    page.select_option("#estimator", "LogisticRegression")
    page.fill("[name='p.LogisticRegression.max_iter']", "1000")
    page.fill("#data_cid", cid_to_text(cid_of(files["train"].read_bytes())))
    fields = page.evaluate(FORM_FIELDS, "[data-submit-form]")
    page.dblclick("[data-submit]")
    page.wait_for_url(re.compile(r"/submissions/0x[0-9a-f]{64}$"))
    progress = page.url
    page.wait_for_selector("[data-outcome]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "ok", page.inner_text("main")
    sent = nonce(w3, CONTRIBUTOR)
    page.reload()
    assert progress.endswith(resend(page, "/submit", fields))
    assert nonce(w3, CONTRIBUTOR) == sent
    page.goto(f"/jobs/{job}")
    assert page.locator("[data-submissions] tbody tr").count() == 1  # one commit, one submission

    page.goto("/balances")
    page.fill("[data-withdraw-form] [name='withdraw_amount']", "1")
    fields = page.evaluate(FORM_FIELDS, "[data-withdraw-form]")
    before = nonce(w3, CONTRIBUTOR)
    page.dblclick("[data-withdraw-form] button")
    page.wait_for_selector("[data-outcome]")
    outcome = page.url
    page.reload()
    assert resend(page, "/balances/withdraw", fields) in outcome
    assert nonce(w3, CONTRIBUTOR) == before + 1


def test_a_refused_deposit_shows_where_the_money_is_and_balances_show_the_voucher(browser: Any, page: Any, w3: Web3,
                                                                                   node: Node, files: dict[str, Path],
                                                                                   symbol: str) -> None:
    valid = cid_to_text(cid_of(files["valid"].read_bytes()))
    act_as(page, SPONSOR)
    create_threshold_job(page, "cancelled (console)", valid, budget="10")
    page.click("[data-submit]")
    page.wait_for_selector("[data-job-link], [data-preflight], [data-form-errors]")
    assert page.locator("[data-job-link]").count() == 1, page.inner_text("main")
    job = int(re.search(r"Open job (\d+)", page.inner_text("[data-job-link]")).group(1))
    page.goto(f"/jobs/{job}")  # this tab keeps the top-up form while another one cancels the job
    other = page.context.new_page()
    other.goto(f"/jobs/{job}")
    with other.expect_navigation():
        other.click("[data-cancel]")
    other.wait_for_selector("[data-notice='JobCancelled']")
    other.close()

    page.fill("#amount", "3")
    page.click("form:has([value='top_up']) button")
    page.wait_for_selector("[data-credited]")
    assert page.get_attribute("[data-outcome]", "data-outcome") == "failed"
    assert "job_closed" in page.inner_text("[data-report]")
    assert page.inner_text("[data-credited-amount]") == f"3 {symbol}"
    assert "are in your dApp balance" in page.inner_text("[data-credited]")
    shot(page, "refused-deposit")
    page.set_viewport_size({"width": 420, "height": 900})
    no_overflow(page)
    shot(page, "refused-deposit-420")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.click("[data-credited-withdraw] button")
    page.wait_for_selector("[data-notice='Withdrawn']")
    assert f"withdrew 3 {symbol}" in page.inner_text("[data-notice='Withdrawn']")
    page.goto("/balances")
    row = page.locator("[data-pending-voucher]").filter(has_text=f"pays 3 {symbol}")
    assert row.count() == 1
    index = row.get_attribute("data-pending-voucher")
    assert page.locator(f"[data-escrow-job='{job}']").count() == 0  # cancelled: nothing escrowed
    shot(page, "balances-pending")
    page.set_viewport_size({"width": 420, "height": 900})
    no_overflow(page)
    shot(page, "balances-pending-420")
    page.set_viewport_size({"width": 1280, "height": 900})
    before = token_balance(w3, node, address(SPONSOR))
    with page.expect_navigation(url=re.compile(r"/balances$")):
        page.click(f"[data-execute='{index}']")
    assert page.locator(f"[data-pending-voucher='{index}']").count() == 0
    assert token_balance(w3, node, address(SPONSOR)) - before == 3 * 10**18


def test_the_preflight_lists_every_problem_before_anything_is_sent(page: Any, w3: Web3, files: dict[str, Path],
                                                                  symbol: str) -> None:
    valid = cid_to_text(cid_of(files["valid"].read_bytes()))
    act_as(page, SPONSOR)
    create_threshold_job(page, "refused (console)", valid)
    page.fill("#label", "no_such_column")
    page.fill("#reward_per_accept", "")
    before = nonce(w3, SPONSOR)
    page.click("[data-submit]")
    page.wait_for_selector("[data-preflight]")
    codes = [p.get_attribute("data-problem") for p in page.locator("[data-problem]").all()]
    assert len(codes) >= 2, page.inner_text("[data-preflight]")
    text = page.inner_text("[data-preflight]")
    assert "no_such_column" in text and text.count("Fix:") == len(codes)
    assert f"at most the budget (20 {symbol}); it is 0 {symbol}" in text and not re.search(r"\d{16}", text)
    assert nonce(w3, SPONSOR) == before
    shot(page, "preflight")
    page.set_viewport_size({"width": 420, "height": 900})
    no_overflow(page)
    shot(page, "preflight-420")
    page.goto("/jobs")
    no_overflow(page)
    shot(page, "jobs-420")
    job = page.locator("[data-job]").last.get_attribute("data-job")  # the first test's: chart, leaderboard
    page.goto(f"/jobs/{job}")
    no_overflow(page)
    shot(page, "job-420")


STAKE = 2_000_000
"""A job's stake in whole tokens, more than a dev account's wallet holds (devnode: 1,000,000 each)."""


def refused_before_sending(page: Any, w3: Web3, node: Node, account: int, send: str) -> tuple[list[str], str]:
    """Clicks ``send``; answers the pre-flight's problem codes and text, once it is checked that every
    problem has its fix and that no transaction left ``account`` and no input reached the dApp."""
    before, count = nonce(w3, account), inputs(w3, node)
    with page.expect_navigation():
        page.click(send)
    assert page.locator("[data-preflight]").count() == 1, page.inner_text("main")
    codes = [p.get_attribute("data-problem") for p in page.locator("[data-problem]").all()]
    text = page.inner_text("[data-preflight]")
    assert text.count("Fix:") == len(codes) > 0, text
    assert not re.search(r"\d{16}", text), text  # amounts in token units, never in base units
    assert (nonce(w3, account), inputs(w3, node)) == (before, count)
    return codes, text


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("png") / "validation.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return path


JOB_CASES = {  # what is wrong on the create form: (how to make it so, the machine's codes, what the text says)
    "wrong label column": (lambda page, png: page.fill("#label", "no_such_column"), ["dataset_missing_label"],
                           "'no_such_column'"),
    "a PNG as validation data": (lambda page, png: upload_into(page, "validation_cid", png), ["dataset_not_utf8"],
                                 "PNG"),
    "empty reward per submission": (lambda page, png: page.fill("#reward_per_accept", ""), ["bad_spec"],
                                    "at most the budget (20 {symbol}); it is 0 {symbol}"),
    "reveal_window without a hidden test set": (lambda page, png: page.fill("#reveal_window", "600"), ["bad_spec"],
                                                "reveal_window is only for a hidden test set"),
}


@pytest.mark.parametrize("case", JOB_CASES)
def test_a_bad_job_is_refused_by_the_preflight_with_nothing_sent(case: str, page: Any, w3: Web3, node: Node,
                                                                files: dict[str, Path], png: Path, symbol: str) -> None:
    make_wrong, expected, says = JOB_CASES[case]
    act_as(page, SPONSOR)
    create_threshold_job(page, f"refused: {case}", cid_to_text(cid_of(files["valid"].read_bytes())))
    make_wrong(page, png)  # a chosen file is uploaded now (an input without a deposit), before the count
    codes, text = refused_before_sending(page, w3, node, SPONSOR, "[data-submit]")
    assert codes == expected and says.format(symbol=symbol) in text, text


@pytest.fixture(scope="module")
def stake_job(browser: Any, console_url: str, files: dict[str, Path]) -> int:
    """An open threshold job whose stake (``STAKE`` tokens) no dev account's wallet can pay."""
    context = browser.new_context(base_url=console_url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        act_as(page, SPONSOR)
        create_threshold_job(page, "staked (console)", cid_to_text(cid_of(files["valid"].read_bytes())))
        page.fill("#stake", str(STAKE))
        page.click("[data-submit]")
        page.wait_for_selector("[data-job-link], [data-preflight], [data-form-errors]")
        return int(re.search(r"Open job (\d+)", page.inner_text("[data-job-link]")).group(1))
    finally:
        context.close()


def seeded_forest(page: Any, path: Path) -> None:
    """A model file that sets ``random_state`` and leaves a forest's ``max_depth`` unbounded."""
    path.write_text(json.dumps({"estimator": "RandomForestClassifier", "params": {"random_state": 1}}))
    page.check("input[name='source'][value='cid']")
    page.set_input_files("#model_cid_file", str(path))


def composed(page: Any, path: Path) -> None:
    page.select_option("#estimator", "LogisticRegression")
    page.fill("[name='p.LogisticRegression.max_iter']", "1000")


SUBMISSION_CASES = {  # (the model, the problems listed: every one, in the machine's order, the wallet's last)
    "random_state set and a forest without max_depth": (seeded_forest, ["param_not_allowed", "param_required",
                                                                        "wallet_balance"]),
    "a stake the account has not deposited": (composed, ["wallet_balance"]),
}


@pytest.mark.parametrize("case", SUBMISSION_CASES)
def test_a_bad_submission_is_refused_by_the_preflight_with_nothing_sent(case: str, page: Any, w3: Web3, node: Node,
                                                                       files: dict[str, Path], stake_job: int,
                                                                       tmp_path: Path, symbol: str) -> None:
    model, expected = SUBMISSION_CASES[case]
    act_as(page, CONTRIBUTOR)
    page.goto(f"/submit?job={stake_job}")
    assert f"stake {STAKE} {symbol}" in page.locator(f"#job option[value='{stake_job}']").inner_text()
    model(page, tmp_path / "model.json")
    page.fill("#data_cid", cid_to_text(cid_of(files["train"].read_bytes())))
    codes, text = refused_before_sending(page, w3, node, CONTRIBUTOR, "[data-submit]")
    assert codes == expected, text
    held = token_balance(w3, node, address(CONTRIBUTOR)) // 10**18
    assert f"job {stake_job}'s stake needs {STAKE} {symbol} deposited from your wallet" in text, text
    assert f"which holds {held}" in text  # whole tokens at least: the dev accounts' balances are whole
    if "random_state" in case:
        assert "'random_state' cannot be set" in text and "'max_depth' is required" in text
    else:
        shot(page, "preflight-submission")
        page.set_viewport_size({"width": 420, "height": 900})
        no_overflow(page)
        shot(page, "preflight-submission-420")
    assert page.locator("[data-kept]").count() == 0  # a refused submission keeps no state


def test_the_look_labels_token_box_chart_and_favicon(page: Any, console_url: str, symbol: str) -> None:
    page.goto("/jobs/new")
    assert f"test token ({symbol}, local node)" in page.inner_text("#token")  # the symbol amounts are shown with
    assert not page.is_visible("[name='token_address']")
    page.select_option("#token", "custom")
    assert page.is_visible("[name='token_address']")
    lefts = page.evaluate("""() => ['#title', '#policy', '#budget', '#reward_per_accept', '#max_submissions',
                                    '#stake'].map((s) => Math.round(document.querySelector(s).getBoundingClientRect().left))""")
    assert len(set(lefts)) == 1, lefts
    favicon = requests.get(f"{console_url}/favicon.ico", timeout=10)
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg")
    page.goto("/jobs")
    first = page.locator("[data-job]").last.get_attribute("data-job")  # the first test's job: scored, paid
    page.goto(f"/jobs/{first}")
    points = page.locator("[data-chart] [data-point]").count()
    ticks = page.locator("[data-chart] text.tick[text-anchor='middle']").all_text_contents()
    assert ticks == [str(i) for i in range(1, points + 1)]
