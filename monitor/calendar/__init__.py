"""The official working-day calendar: the published years, the law for years not yet announced, the
State Council notice that announces one, and the ordinals SQL counts with."""
