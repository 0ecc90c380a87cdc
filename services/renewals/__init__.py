"""Renewals at bulk speed: the plain renewals of a scheduler batch in a few statements."""
