"""The quickstart: real flights data from a PyPI package, through the whole first half of the lifecycle."""
