"""The dApp's two entry points: ``advance`` (an input) and ``inspect`` (a read-only query).

Each advance decodes the input once, runs the domain inside a transaction over the state and
encodes the resulting events; a ``DappError`` becomes one JSON error report and a rejection, an
unexpected exception the same with its traceback (code ``internal_error``). Either way the
transaction is dropped, so a rejected input changes nothing.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from dapp.codec.hexbytes import from_hex
from dapp.codec.inputs import decode_input
from dapp.codec.metadata import V1, parse_metadata
from dapp.codec.outputs import Output, OutputContext, Report, encode_events, error_report, json_report
from dapp.config import Config
from dapp.domain import queries
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.handlers import APP_ADDRESS, handle_input
from dapp.domain.store import State
from dapp.errors import DappError


@dataclass(frozen=True)
class Result:
    """What an advance produced: outputs to post, and whether to accept the input."""

    outputs: list[Output]
    accept: bool


def _internal_error() -> Report:
    return error_report("internal_error", "unexpected error in the backend", traceback=traceback.format_exc())


class App:
    """The dApp: its state and configuration. Not thread-safe (the rollup loop is sequential)."""

    def __init__(self, config: Config | None = None, engine: Any = None) -> None:
        self.config = config or Config()
        self.env = Env(limits=self.config.limits, engine=engine)
        self.state = State()

    def advance(self, metadata: Any, payload_hex: Any) -> Result:
        """Processes one advance request's ``metadata`` and hex ``payload``."""
        try:
            meta = parse_metadata(metadata, self.config.version)
            payload = from_hex(payload_hex)
            command = decode_input(meta, payload, self.config.portals_for(meta.version))
            app_address = meta.app_contract or self.config.app_address or self.state.get(*APP_ADDRESS)
            ctx = Context(meta.msg_sender, meta.timestamp, meta.block_number, meta.input_index,
                          ether_payable=meta.version != V1 or app_address is not None)
            with self.state.transaction() as tx:
                events = handle_input(tx, command, ctx, self.env)
                outputs = encode_events(events, OutputContext(meta.version, app_address))
            return Result(outputs, accept=True)
        except DappError as exc:
            return Result([error_report(exc.code, exc.message)], accept=False)
        except Exception:
            return Result([_internal_error()], accept=False)

    def inspect(self, payload_hex: Any) -> list[Report]:
        """Answers an inspect request (a UTF-8 query, see ``dapp.domain.queries``) with one report,
        never larger than the machine's output buffer (``answer_too_large`` replaces one that is)."""
        try:
            query = from_hex(payload_hex).decode("utf-8")
            report = json_report({"ok": True, **queries.answer(self.state, query, self.env)})
        except UnicodeDecodeError:
            report = error_report("bad_query", "inspect payload is not UTF-8 text")
        except DappError as exc:
            report = error_report(exc.code, exc.message)
        except Exception:
            report = _internal_error()
        if len(report.payload) > queries.MAX_ANSWER_BYTES:
            report = error_report("answer_too_large", f"the answer is {len(report.payload):,} bytes, more "
                                  f"than the {queries.MAX_ANSWER_BYTES:,} a report may have: ask for a "
                                  "smaller page (limit) or fewer bytes (length)")
        return [report]
