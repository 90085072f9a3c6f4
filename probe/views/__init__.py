"""The dataset as one offline HTML page: `probe dataset report` (the curated Parquet) and `probe report` (a
volunteer's own results folder).

The page is built for a reader who looks before they query (OONI Explorer's measurement grid, Censored Planet's
dashboard, GFWatch's site), and who may read it on a train or behind a censor: one file, with every chart drawn
as inline SVG by Python and every table embedded as a CSV download (a `data:` link), so nothing in it asks the
network for anything: no script, font, style sheet or image from elsewhere, and no script at all.

- `source`: the input as a DuckDB view `m` (one row per endpoint measurement, the curated columns), and the hash
  of the input that makes a report re-runnable.
- `tables`: every aggregate the page shows, computed by DuckDB over the columnar data (a million rows in seconds);
  the privacy rule (networks with fewer than `min_probes` distinct probes merged or hidden) is applied here, so
  nothing the page renders ever saw a probe id or a thin network.
- `episodes`: block episodes from a daily series (pure).
- `svg`: the charts; `downloads`: the CSV files; `glossary`: the words; `page`: the HTML; `make`: all of it, into a
  file written atomically.
"""
