"""Money is an integer count of minor units with an ISO currency; rates are minor units per hour."""

from __future__ import annotations

from dataclasses import dataclass

CURRENCIES = ("SEK", "EUR", "NOK", "DKK", "GBP", "USD")


@dataclass(frozen=True)
class HourlyRate:
    amount_minor: int
    currency: str


def format_amount(amount_minor: int, currency: str) -> str:
    """For people (e-mails): "1234.50 SEK". Every currency offered has two decimals."""
    return f"{amount_minor // 100}.{amount_minor % 100:02d} {currency}"


BASIS_POINTS = 10_000  # 100 %


def commission_of(net_minor: int, commission_bps: int) -> int:
    """The commission on ``net_minor``, rounded half up to a whole minor unit, once: the agency's share is
    the rest, so that agency net + commission = net exactly."""
    if net_minor < 0 or not 0 <= commission_bps <= BASIS_POINTS:
        raise ValueError("a net amount is not negative and a commission is between 0 and 10 000 basis points")
    return (net_minor * commission_bps + BASIS_POINTS // 2) // BASIS_POINTS


@dataclass(frozen=True)
class RateBreakdown:
    """What every party sees of an hourly rate: the client's rate, the platform's commission (rate and
    amount) and what remains to the agency, all per hour and before VAT."""

    client_rate: HourlyRate
    commission_bps: int
    commission_minor: int
    agency_net_minor: int

    @classmethod
    def of(cls, rate: HourlyRate, commission_bps: int) -> RateBreakdown:
        commission = commission_of(rate.amount_minor, commission_bps)
        return cls(rate, commission_bps, commission, rate.amount_minor - commission)
