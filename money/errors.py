"""The refusals of money commands."""

from core.errors import NotFound, ValidationFailed


class ExchangeRateMissing(ValidationFailed):
    code = "exchange_rate_missing"


class InvalidCurrency(ValidationFailed):
    code = "invalid_currency"


class InvalidRate(ValidationFailed):
    code = "invalid_rate"


class RatesFileInvalid(ValidationFailed):
    code = "rates_file_invalid"


class InvalidBankDetails(ValidationFailed):
    code = "invalid_bank_details"


class MemberNotFound(NotFound):
    code = "not_found"
