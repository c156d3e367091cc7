# The classic pitfall: TZ is set, so Go looks in /usr/share/zoneinfo/$TZ,
# which is missing; /etc/localtime alone is ignored and the clock runs in UTC.
FROM scratch
COPY rootfs/etc/ /etc/
ENV TZ=Asia/Shanghai
COPY bin/hello /app/hello
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/hello"]
