"""Local stand-ins for the external services, speaking their real protocols on 127.0.0.1."""
