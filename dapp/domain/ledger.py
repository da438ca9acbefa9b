"""The escrow ledger: balances per (token, account), pots per job, and what left by voucher.

Value is conserved per token: deposited == sum(balances) + sum(pots) + paid_out, nothing is ever
negative, and value leaves only through ``pay`` and ``withdraw`` (one ``Payment`` event = one
voucher); ``release`` moves it from a pot to a balance. Pots are
named escrow buckets such as ``("job", 7)`` (a job's budget) or ``("stake", 7, 3)`` (a stake),
each holding a single token.
"""

from __future__ import annotations

from collections.abc import Hashable

from dapp.domain.events import Deposited, Payment, Withdrawn
from dapp.domain.store import Reader, Tx
from dapp.domain.values import Address, token_name
from dapp.errors import DomainError

BALANCES = "balances"
POTS = "pots"
TOTALS = "totals"
ACCOUNT_TOKENS = "account_tokens"  # account -> tokens it ever held (for listing balances)
TOKENS = "tokens"  # token -> True, every token ever deposited

UINT256_MAX = (1 << 256) - 1


def _check_amount(amount: int, *, allow_zero: bool = False) -> None:
    if not isinstance(amount, int) or amount < 0 or amount > UINT256_MAX or (amount == 0 and not allow_zero):
        raise DomainError(f"amount must be a positive uint256, got {amount}", code="bad_amount")


def balance(reader: Reader, token: Address, account: Address) -> int:
    """The free balance of ``account`` in ``token``."""
    return reader.get(BALANCES, (token, account), 0)


def pot(reader: Reader, pot_id: Hashable) -> tuple[Address | None, int]:
    """The (token, amount) held in a pot; (None, 0) if it never held anything."""
    return reader.get(POTS, pot_id, (None, 0))


def balances_of(reader: Reader, account: Address) -> dict[Address, int]:
    """Every non-zero balance of ``account``."""
    found = ((t, balance(reader, t, account)) for t in reader.get(ACCOUNT_TOKENS, account, ()))
    return {t: amount for t, amount in found if amount}


def tokens(reader: Reader) -> list[Address]:
    """Every token ever deposited."""
    return [token for token, _ in reader.items(TOKENS)]


def totals(reader: Reader, token: Address) -> dict[str, int]:
    """Per-token counters: deposited, balances, escrowed, paid_out."""
    return {k: reader.get(TOTALS, (k, token), 0) for k in ("deposited", "balances", "escrowed", "paid_out")}


def _check_holding(new: int, where: str, token: Address) -> None:
    """A holding must stay a uint256: every notice and voucher carries amounts as uint256. Only a token
    that reports more than its supply (the portal trusts its transferFrom) can get near the bound."""
    if new > UINT256_MAX:
        raise DomainError(f"{where} would hold more than 2**256-1 of {token_name(token)}", code="amount_overflow")


def _add_balance(tx: Tx, token: Address, account: Address, delta: int) -> None:
    new = balance(tx, token, account) + delta
    if new < 0:
        raise DomainError(
            f"insufficient balance: {account} has {new - delta} of {token_name(token)}, needs {-delta}",
            code="insufficient_balance",
        )
    _check_holding(new, f"the balance of {account}", token)
    if new:
        tx.put(BALANCES, (token, account), new)
        known = tx.get(ACCOUNT_TOKENS, account, ())
        if token not in known:
            tx.put(ACCOUNT_TOKENS, account, (*known, token))
    else:
        tx.delete(BALANCES, (token, account))
    tx.add(TOTALS, ("balances", token), delta)


def _add_pot(tx: Tx, pot_id: Hashable, token: Address, delta: int) -> None:
    held_token, held = pot(tx, pot_id)
    if held_token is not None and held_token != token:
        raise DomainError(f"pot {pot_id} holds {token_name(held_token)}, not {token_name(token)}", code="wrong_token")
    if held + delta < 0:
        raise DomainError(f"pot {pot_id} holds {held}, cannot release {-delta}", code="insufficient_escrow")
    _check_holding(held + delta, f"pot {pot_id}", token)
    tx.put(POTS, pot_id, (token, held + delta))
    tx.add(TOTALS, ("escrowed", token), delta)


def credit_deposit(tx: Tx, token: Address, account: Address, amount: int) -> list[object]:
    """A portal deposit: new value enters the dApp on ``account``'s balance."""
    _check_amount(amount, allow_zero=True)
    _add_balance(tx, token, account, amount)
    tx.add(TOTALS, ("deposited", token), amount)
    tx.put(TOKENS, token, True)
    return [Deposited(token, account, amount)]


def lock(tx: Tx, pot_id: Hashable, token: Address, account: Address, amount: int) -> None:
    """Moves ``amount`` from ``account``'s balance into a pot."""
    _check_amount(amount, allow_zero=True)
    _add_balance(tx, token, account, -amount)
    _add_pot(tx, pot_id, token, amount)


def move(tx: Tx, source: Hashable, target: Hashable, amount: int) -> None:
    """Moves ``amount`` between two pots of the same token."""
    _check_amount(amount, allow_zero=True)
    token, _ = pot(tx, source)
    if token is None:
        raise DomainError(f"pot {source} is empty", code="insufficient_escrow")
    _add_pot(tx, source, token, -amount)
    _add_pot(tx, target, token, amount)


def release(tx: Tx, pot_id: Hashable, account: Address, amount: int) -> None:
    """Moves ``amount`` (positive, as ``pay``) from a pot to ``account``'s free balance: a reward or a
    returned stake credited inside the dApp instead of paid out by voucher."""
    _check_amount(amount)
    token, _ = pot(tx, pot_id)
    if token is None:
        raise DomainError(f"pot {pot_id} is empty", code="insufficient_escrow")
    _add_pot(tx, pot_id, token, -amount)
    _add_balance(tx, token, account, amount)


def pay(tx: Tx, pot_id: Hashable, to: Address, amount: int) -> Payment:
    """Pays ``amount`` out of a pot to ``to``'s wallet: the returned event becomes a voucher."""
    _check_amount(amount)
    token, _ = pot(tx, pot_id)
    if token is None:
        raise DomainError(f"pot {pot_id} is empty", code="insufficient_escrow")
    _add_pot(tx, pot_id, token, -amount)
    tx.add(TOTALS, ("paid_out", token), amount)
    return Payment(token, to, amount)


def withdraw(tx: Tx, token: Address, account: Address, amount: int) -> list[object]:
    """Moves ``amount`` of the free balance to the account's wallet by voucher."""
    _check_amount(amount)
    _add_balance(tx, token, account, -amount)
    tx.add(TOTALS, ("paid_out", token), amount)
    return [Withdrawn(token, account, amount), Payment(token, account, amount)]
