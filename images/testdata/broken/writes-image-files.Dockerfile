# The service writes a state file into the image's own files at start: it
# runs as built (/data is its user's), and dies under readOnlyRootFilesystem.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/fixture /app/fixture
COPY --chown=65532:65532 data/ /data/
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/fixture"]
CMD ["-write", "/data/state"]
