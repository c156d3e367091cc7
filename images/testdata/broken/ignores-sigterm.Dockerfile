# The service ignores SIGTERM, so docker stop and Kubernetes have to kill it.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/fixture /app/fixture
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/fixture"]
CMD ["-ignore-sigterm"]
