"""The headless relay: pairs Alice and Bob, routes sealed frames, keeps time, reads nothing."""
