"""Coupons, promotion codes, and the discounts they put on invoices."""
