# Everything but /tmp: a non-root service cannot create temporary files.
FROM scratch
COPY rootfs/etc/ /etc/
COPY rootfs/usr/ /usr/
ENV TZ=Asia/Shanghai
COPY bin/hello /app/hello
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
