"""Brokers and banks: the catalogue (`catalogue.json`), credential schemas, raw-data redaction."""
