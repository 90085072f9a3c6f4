# probe in a container: one run, or a long-lived probe that measures on a schedule (docs/volunteer.md, "Docker").
#   docker build -t probe .
#   docker run --rm -it --init --cap-drop ALL -v probe-state:/var/lib/probe -v probe-results:/results probe init
# Bookworm named, not implied: the bare tag moves to the next Debian release, with its own Python and libraries.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The install docs/volunteer.md shows: pip, from this source tree, with the GeoIP extra (packet capture needs no package).
# Behind a package mirror or a TLS-inspecting proxy, pass pip's settings and the CA bundle as build secrets: they
# are mounted for this step only and never land in a layer (docker build --secret id=pip.conf,src=... --secret
# id=ca.crt,src=..., the pip.conf naming cert = /run/secrets/ca.crt). Without them pip's defaults apply.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY probe ./probe
COPY targets ./targets
RUN --mount=type=secret,id=pip.conf --mount=type=secret,id=ca.crt \
    PIP_CONFIG_FILE=/run/secrets/pip.conf pip install '.[geo]' && rm -rf /src

# Packet capture needs CAP_NET_RAW, which a non-root process gets only from a file capability: a copy of the
# interpreter carries it, and the entrypoint runs that copy only when the container was granted NET_RAW.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && cp "$(readlink -f /usr/local/bin/python3)" /usr/local/bin/python3-netraw \
 && setcap cap_net_raw+eip /usr/local/bin/python3-netraw \
 && apt-get purge -y libcap2-bin \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
COPY docker/entrypoint.sh /usr/local/bin/probe-entrypoint

# A user of its own; keys, settings, the upload spool and the run history live in PROBE_HOME, results apart.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/probe --shell /usr/sbin/nologin probe \
 && mkdir -p /var/lib/probe /results \
 && chown probe:probe /var/lib/probe /results
ENV PROBE_HOME=/var/lib/probe \
    PROBE_RESULTS_DIR=/results \
    HOME=/var/lib/probe
VOLUME ["/var/lib/probe", "/results"]
USER probe
WORKDIR /var/lib/probe

ENTRYPOINT ["probe-entrypoint"]
CMD ["run"]
