# Labelled Asia/Shanghai, but the zone data is Asia/Singapore's: the same
# +08:00 today, +07:30 in 1980 and no DST in 1988.
FROM scratch
COPY rootfs/etc/passwd rootfs/etc/group /etc/
COPY rootfs/etc/ssl/ /etc/ssl/
COPY rootfs/usr/share/zoneinfo/Asia/Singapore /usr/share/zoneinfo/Asia/Shanghai
COPY rootfs/usr/share/zoneinfo/Asia/Singapore /etc/localtime
ENV TZ=Asia/Shanghai
COPY bin/hello /app/hello
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
