"""Notifier: findings to Slack, Jira and pages, with routing and de-duplication."""
