# Built with --platform linux/arm64, so the config says arm64, but the
# entrypoint is the host's amd64 binary: it runs here, and dies with
# "exec format error" on an arm64 node.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/fixture /app/fixture
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/fixture"]
