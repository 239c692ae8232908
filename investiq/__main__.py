"""`python -m investiq` = the `investiq` console script."""

from investiq.cli import main

main()
