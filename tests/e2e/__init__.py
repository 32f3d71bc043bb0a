"""End-to-end tests: real processes driven through their public interfaces."""
