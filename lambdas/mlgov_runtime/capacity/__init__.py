"""Capacity guard (spec scenario 4): no production endpoint scales to zero; campaigns pre-scale."""
