"""`python -m investiq` = the `investiq` console script."""

from investiq.cli.main import main

main()
