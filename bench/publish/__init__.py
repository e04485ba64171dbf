"""Views over records: tables, plots, reports, merge, statistics, long-form export."""
