"""The power policy: the staged shutdown on the UPS's budget and the gated return (issue 16)."""
