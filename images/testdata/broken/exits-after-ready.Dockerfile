# The service answers its health path, then exits 1.8 s later (within the settle time).
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/fixture /app/fixture
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/fixture"]
CMD ["-exit-after", "1800ms"]
