# No USER: the service runs as root.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/hello /app/hello
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
