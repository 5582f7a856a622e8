"""xactor as the avatar of agent frameworks, through the server's ``WS /sessions/stream``."""
