"""Hypothesis state machines: value is conserved, nothing goes negative, nothing is paid twice."""

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dapp.codec import abi
from dapp.domain import ledger
from dapp.domain.store import State
from dapp.domain.values import ETHER, Address
from dapp.errors import DomainError
from tests.support.rollup import Driver

ACCOUNTS = [Address(bytes([i]) * 20) for i in range(1, 4)]
TOKENS = [ETHER, Address(b"\x70" * 20)]
WITHDRAW = abi.inputs()["withdraw"]
TRANSFER = abi.voucher_targets()["transfer"]

accounts = st.sampled_from(ACCOUNTS)
tokens = st.sampled_from(TOKENS)
amounts = st.integers(0, 10**6)


def voucher_amount(destination, value, payload):
    """(token, amount) a voucher pays, decoded independently of the code under test."""
    if payload[:4] == TRANSFER.selector:
        return destination, int.from_bytes(payload[36:68], "big")
    return ETHER, value


class AppLedger(RuleBasedStateMachine):
    """Deposits and withdrawals through the real dispatch path, against a plain dict model."""

    def __init__(self):
        super().__init__()
        self.driver = Driver()
        self.model = Counter()
        self.deposited = Counter()
        self.vouchers = Counter()

    @rule(token=tokens, account=accounts, amount=amounts)
    def deposit(self, token, account, amount):
        done = (self.driver.deposit_ether(account, amount) if token == ETHER
                else self.driver.deposit(token, account, amount))
        assert done.accepted
        self.model[token, account] += amount
        self.deposited[token] += amount

    @rule(token=tokens, account=accounts, amount=amounts)
    def withdraw(self, token, account, amount):
        done = self.driver.send(account, WITHDRAW.encode(token.raw, amount))
        ok = 0 < amount <= self.model[token, account]
        assert done.accepted == ok
        if ok:
            self.model[token, account] -= amount
            assert len(done.vouchers) == 1
        else:
            assert done.vouchers == [] and done.notices == []
        for voucher in done.vouchers:
            paid_token, paid = voucher_amount(*voucher)
            assert paid_token == token and paid == amount
            self.vouchers[paid_token] += paid

    @invariant()
    def balances_match_the_model_and_value_is_conserved(self):
        for account in ACCOUNTS:
            answer = self.driver.inspect(f"balances/{account.hex}")["balances"]
            expected = {t.hex: str(self.model[t, account]) for t in TOKENS if self.model[t, account]}
            assert answer == expected
        for token in TOKENS:
            assert self.vouchers[token] <= self.deposited[token]
            held = sum(self.model[token, a] for a in ACCOUNTS)
            assert held + self.vouchers[token] == self.deposited[token]


class PotLedger(RuleBasedStateMachine):
    """Every ledger operation, including escrow pots, on the store directly."""

    def __init__(self):
        super().__init__()
        self.state = State()
        self.deposited = Counter()
        self.paid = Counter()
        self.payments = []

    def attempt(self, operation):
        try:
            with self.state.transaction() as tx:
                return operation(tx)
        except DomainError:
            return None

    @rule(token=tokens, account=accounts, amount=amounts)
    def deposit(self, token, account, amount):
        self.attempt(lambda tx: ledger.credit_deposit(tx, token, account, amount))
        self.deposited[token] += amount

    @rule(pot=st.integers(1, 3), token=tokens, account=accounts, amount=amounts)
    def lock(self, pot, token, account, amount):
        self.attempt(lambda tx: ledger.lock(tx, ("job", pot), token, account, amount))

    @rule(source=st.integers(1, 3), dest=st.integers(1, 3), amount=amounts)
    def move(self, source, dest, amount):
        self.attempt(lambda tx: ledger.move(tx, ("job", source), ("job", dest), amount))

    @rule(pot=st.integers(1, 3), account=accounts, amount=amounts)
    def release(self, pot, account, amount):
        self.attempt(lambda tx: ledger.release(tx, ("job", pot), account, amount))

    @rule(pot=st.integers(1, 3), account=accounts, amount=amounts)
    def pay(self, pot, account, amount):
        payment = self.attempt(lambda tx: ledger.pay(tx, ("job", pot), account, amount))
        if payment is not None:
            self.payments.append(payment)
            self.paid[payment.token] += payment.amount

    @rule(token=tokens, account=accounts, amount=amounts)
    def withdraw(self, token, account, amount):
        found = self.attempt(lambda tx: ledger.withdraw(tx, token, account, amount))
        if found is not None:
            self.payments.append(found[1])
            self.paid[token] += amount

    @invariant()
    def conserved_and_never_negative(self):
        balances = Counter()
        for (token, _), value in self.state.items(ledger.BALANCES):
            assert value > 0
            balances[token] += value
        escrowed = Counter()
        for _, (token, value) in self.state.items(ledger.POTS):
            assert value >= 0
            escrowed[token] += value
        for token in TOKENS:
            assert balances[token] + escrowed[token] + self.paid[token] == self.deposited[token]
            assert self.paid[token] <= self.deposited[token]
            assert ledger.totals(self.state, token) == {
                "deposited": self.deposited[token], "balances": balances[token],
                "escrowed": escrowed[token], "paid_out": self.paid[token]}


TestAppLedger = AppLedger.TestCase
TestAppLedger.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestPotLedger = PotLedger.TestCase
TestPotLedger.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
