"""Request and response schemas, role-suffixed (`TradeUpdateRequest`, `WeightsResponse`)."""
