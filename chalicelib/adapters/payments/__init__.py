"""Payment adapters: Stripe (Connect recipients, customers, hosted invoices) and the offline Stripe for the local stack and tests."""
