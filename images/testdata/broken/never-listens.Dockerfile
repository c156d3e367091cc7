# The image exposes 8080, but the service listens on 9090.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/hello /app/hello
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
CMD ["-addr", ":9090"]
