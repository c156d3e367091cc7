# Neither TZ nor /etc/localtime: Go runs in UTC.
FROM scratch
COPY rootfs/etc/passwd rootfs/etc/group /etc/
COPY rootfs/etc/ssl/ /etc/ssl/
COPY bin/hello /app/hello
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
