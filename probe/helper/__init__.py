"""The control vantage (`probe helper serve`, issue 17): the project's own vantage point outside the censors.

It measures every endpoint of the published target lists with the probe's own code from its own network, every few
minutes and on demand, and serves the latest view of each endpoint as one signed JSON document
(`probe/helperview.py`, the format the probe reads too), so a probe can tell "down everywhere" from "blocked here"
and learn the legitimate addresses and certificates even where its DoH control is blocked. `measurer.py` is the
loop, `app.py` the HTTP face, `serve.py` ties them together. The probe's side is `probe.net.helper` (the request)
and the `helper.*` rules of `probe.analysis.rules`.
"""
