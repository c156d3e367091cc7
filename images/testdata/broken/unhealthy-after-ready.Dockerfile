# The service answers its health path once, then 503 from 300ms on.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/fixture /app/fixture
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/fixture"]
CMD ["-unhealthy-after", "300ms"]
