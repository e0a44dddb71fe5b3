"""The ward report page's template, words, calendar and tables, pure where it can be."""
