# The service exits 1 at once (it cannot listen on an invalid address).
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/hello /app/hello
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
CMD ["-addr", ":99999"]
