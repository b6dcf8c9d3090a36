"""Exchange rates: ECB reference rates from Frankfurter or the ECB file, and the one rate lookup."""
