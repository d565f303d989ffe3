"""Ingestion: call records from files, pushes, other servers and telephony, into storage."""
