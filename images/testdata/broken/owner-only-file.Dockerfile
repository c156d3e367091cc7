# The service reads a config file only the image's user may read (0600,
# owned by 65532): it runs as built, and not as the arbitrary uid in group 0
# OpenShift assigns.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/fixture /app/fixture
COPY --chown=65532:65532 data/ /data/
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/fixture"]
CMD ["-read", "/data/config.json"]
