"""Seller Mail Gateway: an SMTP relay that keeps sellers' mail to marketplace buyers within the rules."""

__version__ = "0.1.0"
