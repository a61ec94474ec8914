"""What operators watch: the Prometheus collector that reads the history at scrape time
(`metrics`, with its metric families declared in `metric_families`), and the structlog
pipeline to journald (native fields), JSON or a console, with registered secrets redacted.
"""
