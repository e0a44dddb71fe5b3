"""Deploy files against real programs: Debian's Prometheus evaluating our rules and dashboard."""
