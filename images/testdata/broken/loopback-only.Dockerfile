# The service listens on 127.0.0.1 only: it answers inside its own network
# namespace, and nothing else (another container, a published port) reaches it.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/hello /app/hello
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
CMD ["-addr", "127.0.0.1:8080"]
