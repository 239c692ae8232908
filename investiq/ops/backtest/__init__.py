"""Walk-forward backtest of the agent's loop (`investiq backtest`)."""
