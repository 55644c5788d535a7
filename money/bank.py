"""Bank details rules: schwifty checks an IBAN (country format, length, checksum) and a BIC
(format, and the bank registry it ships); the masked form is the only one shown to anyone but
finance and the account's owner, and the only one that reaches logs, events and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from .errors import InvalidBankDetails


@dataclass(frozen=True)
class CleanBankDetails:
    holder: str
    iban: str
    bic: str


def mask_iban(iban: str) -> str:
    """``DE89 **** **** **** 3000``: the country and check digits, and the last four; always three
    masked groups, so the mask does not tell the length either."""
    compact = "".join(iban.split()).upper()
    if len(compact) < 12:
        return "****"
    return f"{compact[:4]} **** **** **** {compact[-4:]}"


def clean_bank_details(*, holder: str, iban: str, bic: str = "") -> CleanBankDetails:
    """Refuses (``invalid_bank_details``, naming the field, never echoing the number) a holder
    missing or too long, an IBAN schwifty rejects, or a BIC that is malformed or belongs to
    another country. Without a BIC, the one schwifty's bank registry knows for the IBAN is used
    where there is one (SEPA needs none inside the EEA)."""
    holder = " ".join((holder or "").split())
    if not holder or len(holder) > 70:
        raise InvalidBankDetails("Give the account holder's name (at most 70 characters).",
                                 details={"field": "holder"})
    try:
        parsed = IBAN(iban or "")
    except SchwiftyException as exc:
        raise InvalidBankDetails(f"This IBAN is not valid: {exc}.", details={"field": "iban",
                                                                          "reason": type(exc).__name__}) from None
    bic = "".join((bic or "").split()).upper()
    if bic:
        try:
            parsed_bic = BIC(bic)
        except SchwiftyException as exc:
            raise InvalidBankDetails(f"This BIC is not valid: {exc}.", details={"field": "bic"}) from None
        if parsed_bic.country_code != parsed.country_code and parsed.country_code not in ("SM", "VA", "MC"):
            raise InvalidBankDetails("The BIC belongs to a bank in another country than the IBAN.",
                                     details={"field": "bic"})
        bic = str(parsed_bic.compact)
    else:
        derived = parsed.bic
        bic = str(derived.compact) if derived is not None else ""
    return CleanBankDetails(holder=holder, iban=parsed.compact, bic=bic)
