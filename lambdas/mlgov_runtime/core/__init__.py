"""Shared by every capability, knowing none: the finding, store-and-publish, routing, environment parts."""
