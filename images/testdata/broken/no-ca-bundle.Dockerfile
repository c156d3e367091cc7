# No CA bundle: every HTTPS call fails with "certificate signed by unknown authority".
FROM scratch
COPY rootfs/etc/passwd rootfs/etc/group rootfs/etc/localtime /etc/
COPY rootfs/usr/ /usr/
ENV TZ=Asia/Shanghai
COPY bin/hello /app/hello
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
