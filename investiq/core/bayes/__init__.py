"""Pure maths of the strategy weights: posteriors (`posterior`) and allocation rules (`allocation`).

No I/O here; randomness comes in as a numpy Generator.
"""
