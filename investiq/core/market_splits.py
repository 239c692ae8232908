"""Telling a split from a corrected close: the factor by which a source's closes of cached bars differ from the
cache's, when it is one factor across them (a split or a stock dividend), not a few bars corrected. fetch_into
(investiq.core.market_fetch) rescales the cache by it before a merge."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

# A split or a stock dividend moves every close the source gives by one factor (x0.5, x0.1, x3, x1/1.1); a
# corrected close moves by less than 5 % and alone: one cent on a $0.81 stock, x1.012 on one bar, was taken for a
# split while any move beyond 1 % was, and the cache was fetched again, losing what Yahoo no longer serves.
CACHE_SPLIT_CHANGE = 0.05  # the least relative change of the cached closes taken for a split
SPLIT_AGREE = 0.01  # how far a bar's factor may be from the median one
SPLIT_SHARE = 0.9  # the share of the bars compared whose factors must agree (a few corrected ones may not)
# A refresh compares one bar (the newest cached one is not compared): a split seen there is fetched again over
# this many cached bars before the cache is rescaled. On the one bar, a close the source corrected by 7 % (a bad
# print) rescaled every cached bar by x0.93 (a review: 434 of 437 bars more than 1 % off, and a false jump).
SPLIT_BARS = 10


def split_factor(cached: pd.DataFrame, fresh: pd.DataFrame) -> float | None:
    """The factor by which the source's closes (`fresh`) of the bars also in `cached` differ from the cached ones,
    when it is a split's: beyond CACHE_SPLIT_CHANGE, and within SPLIT_AGREE of it for SPLIT_SHARE of the bars or
    more (all of one or two); else None. Yahoo's closes are split-adjusted, not dividend-adjusted
    (auto_adjust=False). The newest cached bar is not compared: an earlier version cached it in progress, at the
    price of that moment."""
    both = cached.index[:-1].intersection(fresh.index)
    if not len(both):
        return None
    ratios = (fresh.loc[both, "close"] / cached.loc[both, "close"]).to_numpy()
    change = float(np.median(ratios))
    agree = np.abs(ratios / change - 1) <= SPLIT_AGREE
    if abs(np.log(change)) < np.log1p(CACHE_SPLIT_CHANGE) or agree.mean() < SPLIT_SHARE:
        return None
    return change
