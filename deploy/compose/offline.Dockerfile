# PostgreSQL, NATS, Redis and nginx from Debian's packages: the stand-ins of their official
# images in deploy/compose/offline.yaml, for machines that reach no container registry.
FROM docker.io/library/debian:bookworm-slim
# A mirror that stalls is given up on and retried, not waited on for ever.
RUN printf 'Acquire::http::Timeout "30";\nAcquire::Retries "3";\n' >/etc/apt/apt.conf.d/80timeouts \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       postgresql redis-server nats-server nginx-light \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default
