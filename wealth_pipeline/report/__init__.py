"""The weekly wealth report: content from the marts, HTML and text with charts, delivery."""
