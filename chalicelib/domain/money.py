"""Money is an integer count of minor units with an ISO currency; rates are minor units per hour."""

from __future__ import annotations

from dataclasses import dataclass

CURRENCIES = ("SEK", "EUR", "NOK", "DKK", "GBP", "USD")


@dataclass(frozen=True)
class HourlyRate:
    amount_minor: int
    currency: str
