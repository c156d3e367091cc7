# Written by slimage for api v2.3.4-5-gabcdef0. The build context is this
# folder, which holds exactly the files below:  docker build -t <image> .
FROM scratch

# Least-changing first: everything that does not change with the code comes before
# the binary, so a code change rebuilds only the binary's layer, the last step.
# rootfs/ holds /etc/passwd and /etc/group (root, nonroot 65532), an empty /tmp
# (mode 1777), /app (the working directory), the CA bundle at
# /etc/ssl/certs/ca-certificates.crt, and the
# Europe/Berlin zone at /usr/share/zoneinfo/Europe/Berlin (where Go looks when TZ is set)
# and at /etc/localtime (where everything else looks).
# More zones the service loads, under /usr/share/zoneinfo: America/New_York, Asia/Tokyo.
COPY rootfs/ /
ENV TZ=Europe/Berlin

# Files the service reads at run time:
#   conf.yaml -> /app/conf.yaml
#   slimage-data/templates/index.html -> /app/templates/index.html
COPY files/ /
WORKDIR /app
USER 0:0
EXPOSE 8080/tcp
EXPOSE 9090/tcp
EXPOSE 53/udp
ENTRYPOINT ["/app/api"]
CMD ["-addr",":8080","--config=conf.yaml"]
# The labels change with the commit, not with an edit: they stay cached while you work.
LABEL org.opencontainers.image.created="2026-01-02T03:04:05Z" \
      org.opencontainers.image.revision="0123456789abcdef0123456789abcdef01234567" \
      org.opencontainers.image.source="https://example.com/shop/api" \
      org.opencontainers.image.title="api" \
      org.opencontainers.image.version="v2.3.4-5-gabcdef0"

COPY bin/api /app/api
