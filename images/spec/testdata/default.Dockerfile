# Written by slimage for hello v1.0.0. The build context is this
# folder, which holds exactly the files below:  docker build -t <image> .
FROM scratch

# Least-changing first: everything that does not change with the code comes before
# the binary, so a code change rebuilds only the binary's layer, the last step.
# rootfs/ holds /etc/passwd and /etc/group (root, nonroot 65532), an empty /tmp
# (mode 1777), /app (the working directory), the CA bundle at
# /etc/ssl/certs/ca-certificates.crt, and the
# Asia/Shanghai zone at /usr/share/zoneinfo/Asia/Shanghai (where Go looks when TZ is set)
# and at /etc/localtime (where everything else looks).
COPY rootfs/ /
ENV TZ=Asia/Shanghai
WORKDIR /app
USER 65532:65532
ENTRYPOINT ["/app/hello"]

COPY bin/hello /app/hello
