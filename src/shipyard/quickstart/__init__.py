"""The quickstart: real flights data from PyPI through the first half of the lifecycle."""
