"""Every figure basiss draws (matplotlib, Agg back end)."""
