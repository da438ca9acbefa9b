"""Every page of the console through Flask's test client over a fake market: what it shows, escaping,
CSRF on every POST, no private key in any response."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnode.anvil import dev_accounts
from tests.unit.test_console_fake import World, csrf, make_client, populated_world

DEV_KEYS = [a.key.hex().removeprefix("0x") for a in dev_accounts(10)]


@pytest.fixture()
def world() -> World:
    return populated_world()


GET_PAGES = ["/jobs", "/jobs/1", "/jobs/new", "/submit", "/submit?job=1", "/outputs", "/outputs?vouchers=1",
             "/outputs?input=2", "/balances", "/inputs/3"]


@pytest.mark.parametrize("path", GET_PAGES)
def test_every_page_renders_escaped_and_without_keys(world: World, tmp_path: Path, path: str) -> None:
    _, client = make_client(world, tmp_path)
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "<script>alert(1)</script>" not in html
    assert not any(key in html.lower() for key in DEV_KEYS)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_root_leads_to_the_jobs(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    assert client.get("/").headers["Location"].endswith("/jobs")


def test_the_jobs_list_shows_budget_in_token_units_and_the_escaped_title(world: World, tmp_path: Path) -> None:
    html = make_client(world, tmp_path)[1].get("/jobs").get_data(as_text=True)
    assert "20 TEST" in html and "10 TEST" in html and "threshold" in html and "2027-01-15" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "/jobs/1#leaderboard" in html


def test_a_job_page_draws_each_scored_submission_and_the_published_model(world: World, tmp_path: Path) -> None:
    html = make_client(world, tmp_path)[1].get("/jobs/1").get_data(as_text=True)
    assert html.count("data-point") == 2 and 'class="published"' in html
    assert "submission 2: 0.7 (rejected)" in html and "model published (round 0): 0.95" in html


def test_an_unknown_job_is_a_404_with_a_message(world: World, tmp_path: Path) -> None:
    response = make_client(world, tmp_path)[1].get("/jobs/9")
    assert response.status_code == 404 and "there is no job 9" in response.get_data(as_text=True)


def test_the_create_form_offers_every_catalogue_estimator_with_bounds(world: World, tmp_path: Path) -> None:
    from dapp.ml.catalogue import CATALOGUE

    html = make_client(world, tmp_path)[1].get("/jobs/new").get_data(as_text=True)
    for name, definition in CATALOGUE.items():
        assert f'data-estimator="{name}"' in html
        for param in definition.params:
            assert f'name="base_p.{name}.{param}"' in html
    assert "an integer in [1, 32]" in html  # max_depth of the trees


def test_outputs_show_vouchers_with_state_and_an_execute_button(world: World, tmp_path: Path) -> None:
    html = make_client(world, tmp_path)[1].get("/outputs").get_data(as_text=True)
    assert "pays 10 TEST to 0x7070…7070" in html and "executable" in html and 'data-execute="3"' in html
    assert "job 1 created by 0x5a5a…5a5a with a budget of 30 TEST" in html


def test_balances_show_the_dapp_and_the_wallet(world: World, tmp_path: Path) -> None:
    html = make_client(world, tmp_path)[1].get("/balances").get_data(as_text=True)
    assert "5 TEST" in html and "70 TEST" in html and "0.3 ETH" in html


POSTS = ["/jobs/new", "/submit", "/jobs/1/action", "/jobs/1/access", "/outputs/3/execute", "/balances/withdraw",
         "/balances/deposit", "/balances/payouts", "/account", "/api/wallet/account", "/api/wallet/confirm", "/api/uploads", "/api/models",
         "/api/uploads/bafkreiexample/next", "/api/cid", "/submissions/0x" + "ab" * 32 + "/resume",
         "/submissions/0x" + "ab" * 32 + "/run", "/api/submissions/0x" + "ab" * 32 + "/step"]


def test_the_csrf_check_below_covers_every_post_route_of_the_console(world: World, tmp_path: Path) -> None:
    app, _ = make_client(world, tmp_path)
    adapter = app.url_map.bind("localhost")
    covered = {adapter.match(path, method="POST")[0] for path in POSTS}
    posts = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())}
    missing = sorted(rule for endpoint, rule in posts.items() if endpoint not in covered)
    assert not missing, f"POST routes without a CSRF test: {missing}"


@pytest.mark.parametrize("path", POSTS)
def test_every_post_without_the_csrf_token_is_refused(world: World, tmp_path: Path, path: str) -> None:
    _, client = make_client(world, tmp_path)
    csrf(client)
    response = client.post(path, data={"action": "settle", "account": "1"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    wrong = client.post(path, data={"csrf_token": "x" * 43, "action": "settle"})
    assert wrong.status_code == 400
    assert world.sent == [] and world.executed == []


def test_the_dev_account_chosen_is_the_one_that_signs(world: World, tmp_path: Path) -> None:
    from mlmarket.client.accounts import dev_signer

    _, client = make_client(world, tmp_path)
    token = csrf(client)
    assert client.post("/account", data={"csrf_token": token, "account": "4", "next": "/jobs"}).status_code == 302
    client.post("/jobs/1/action", data={"csrf_token": token, "action": "settle"})
    assert world.sent[0][0] == dev_signer(4).address
    assert client.post("/account", data={"csrf_token": token, "account": "9"}).status_code == 400


def test_dev_accounts_are_refused_off_a_local_chain(world: World, tmp_path: Path) -> None:
    world.chain_id = 11155111
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    html = client.get("/jobs").get_data(as_text=True)
    assert "dev account" not in html
    assert client.post("/account", data={"csrf_token": token, "account": "0"}).status_code == 400
    response = client.post("/jobs/1/action", data={"csrf_token": token, "action": "settle"})
    assert response.status_code == 400 and "connect a browser wallet" in response.get_data(as_text=True)
    assert world.sent == []


def test_a_node_that_cannot_be_reached_gives_a_clear_page_not_a_traceback(tmp_path: Path) -> None:
    from mlmarket.client.errors import ConfigError
    from mlmarket.console import create_app
    from mlmarket.console.settings import Settings

    def unreachable(kind: str, value: object) -> object:
        raise ConfigError("cannot reach the node's reader API at http://127.0.0.1:6751/rpc")

    app = create_app({"TESTING": True, "CONSOLE_SETTINGS": Settings(environ={}, secret_key="t", upload_dir=tmp_path,
                                                                   market_factory=unreachable)})
    response = app.test_client().get("/jobs")
    html = response.get_data(as_text=True)
    assert response.status_code == 502 and "cannot reach the node&#39;s reader API" in html
    assert "Traceback" not in html
    api = app.test_client().get("/api/uploads/pending")
    assert api.status_code == 400 and "cannot reach" in api.json["error"]
